namespace HourNas.Engine.Data;

/// <summary>
/// CIFAR-10 in its binary version: data_batch_1.bin .. data_batch_5.bin and test_batch.bin, each a sequence of
/// records of 1 label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32).
/// </summary>
public static class Cifar10
{
    public const int Side = 32;
    private const int Record = 1 + 3 * Side * Side;

    private static readonly string[] StandardClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>
    /// The label names: the folder's batches.meta.txt (one per line, as the binary release ships them) when it has
    /// ten, else the release's standard ten.
    /// </summary>
    public static IReadOnlyList<string> ClassNames(string folder)
    {
        var meta = Path.Combine(folder, "batches.meta.txt");
        if (!File.Exists(meta) || new FileInfo(meta).Length > 4096) return StandardClassNames;
        var names = File.ReadAllLines(meta).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length == 10 ? names : StandardClassNames;
    }

    public static bool LooksLike(string folder) => File.Exists(Path.Combine(folder, "data_batch_1.bin"));

    public static (InMemoryImages Train, InMemoryImages Test) Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DataException($"CIFAR-10 folder '{folder}' does not exist");
        var train = Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).ToArray();
        return (Read(train, $"{folder} (train)"), Read([Path.Combine(folder, "test_batch.bin")], $"{folder} (test)"));
    }

    public static InMemoryImages Read(IReadOnlyList<string> files, string source)
    {
        var pixels = new MemoryStream();
        var labels = new MemoryStream();
        foreach (var path in files)
        {
            if (!File.Exists(path)) throw new DataException($"CIFAR-10 file '{path}' does not exist");
            var data = File.ReadAllBytes(path);
            if (data.Length == 0 || data.Length % Record != 0)
                throw new DataException($"{path}: {data.Length} bytes is not a whole number of {Record}-byte records " +
                    "(truncated or not CIFAR-10 binary)");
            for (var r = 0; r < data.Length / Record; r++)
            {
                var label = data[r * Record];
                if (label > 9)
                    throw new DataException($"{path}: record {r} has label {label}, CIFAR-10 labels are 0..9");
                labels.WriteByte(label);
                pixels.Write(data, r * Record + 1, Record - 1);
            }
        }
        return new InMemoryImages(source, pixels.ToArray(), labels.ToArray(), 3, Side, Side, 10, cropPadding: 4);
    }
}
