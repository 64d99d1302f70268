using System.Buffers.Binary;
using System.IO.Compression;

namespace HourNas.Engine.Data;

/// <summary>
/// Fashion-MNIST (and MNIST) from its IDX files, gzip-compressed or not: train-images-idx3-ubyte[.gz],
/// train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
/// Debian's package dataset-fashion-mnist installs them in <see cref="DebianFolder"/>.
/// </summary>
public static class FashionMnist
{
    public const string DebianFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The labels 0..9 as the dataset's authors name them (IDX files carry no names).</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static bool LooksLike(string folder) => Find(folder, "train-images-idx3-ubyte") is not null;

    public static (InMemoryImages Train, InMemoryImages Test) Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DataException($"Fashion-MNIST folder '{folder}' does not exist");
        return (LoadSplit(folder, "train"), LoadSplit(folder, "t10k"));
    }

    private static InMemoryImages LoadSplit(string folder, string prefix)
    {
        var imagesPath = Require(folder, $"{prefix}-images-idx3-ubyte");
        var labelsPath = Require(folder, $"{prefix}-labels-idx1-ubyte");
        var (images, count, rows, cols) = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (labels.Length != count)
            throw new DataException($"{labelsPath}: {labels.Length} labels, but {imagesPath} holds {count} images");
        return new InMemoryImages(imagesPath, images, labels, 1, rows, cols, 10, cropPadding: 2);
    }

    /// <summary>An IDX3 file of unsigned bytes: magic 0x00000803, count, rows, columns, then the pixels.</summary>
    public static (byte[] Pixels, int Count, int Rows, int Cols) ReadImages(string path)
    {
        var data = ReadAll(path);
        if (data.Length < 16)
            throw new DataException($"{path}: truncated: {data.Length} bytes, an IDX image header needs 16");
        var magic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (magic != 0x803)
            throw new DataException(
                $"{path}: wrong magic number 0x{magic:X8}, expected 0x00000803 (IDX3 unsigned bytes)");
        int count = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4)),
            rows = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(8)),
            cols = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(12));
        var expected = 16L + (long)count * rows * cols;
        if (count < 0 || rows <= 0 || cols <= 0 || data.Length != expected)
            throw new DataException($"{path}: header says {count} images of {rows}x{cols} ({expected} bytes), " +
                $"file has {data.Length} bytes (truncated or corrupt)");
        return (data[16..], count, rows, cols);
    }

    /// <summary>An IDX1 file of unsigned bytes: magic 0x00000801, count, then the labels.</summary>
    public static byte[] ReadLabels(string path)
    {
        var data = ReadAll(path);
        if (data.Length < 8)
            throw new DataException($"{path}: truncated: {data.Length} bytes, an IDX label header needs 8");
        var magic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (magic != 0x801)
            throw new DataException(
                $"{path}: wrong magic number 0x{magic:X8}, expected 0x00000801 (IDX1 unsigned bytes)");
        var count = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4));
        if (count < 0 || data.Length != 8L + count)
            throw new DataException($"{path}: header says {count} labels ({8L + count} bytes), " +
                $"file has {data.Length} bytes (truncated or corrupt)");
        return data[8..];
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal)
                ? new GZipStream(file, CompressionMode.Decompress)
                : file;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new DataException($"{path}: cannot be read ({e.Message.TrimEnd('.')}): truncated or corrupt gzip?");
        }
    }

    private static string? Find(string folder, string name) =>
        new[] { name + ".gz", name }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);

    private static string Require(string folder, string name) =>
        Find(folder, name) ?? throw new DataException($"Fashion-MNIST folder '{folder}' has no {name}.gz or {name}");
}
