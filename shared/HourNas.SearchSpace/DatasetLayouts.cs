namespace HourNas.SearchSpace;

/// <summary>
/// The dataset folder layouts the loaders read, told apart by file names only: what a preset's data folder may hold.
/// Pure (no decoding), so the coordinator can check a submitted folder without the engine.
/// </summary>
public static class DatasetLayouts
{
    public const string Idx = "idx";
    public const string Cifar10 = "cifar10";
    public const string ImageFolder = "imagefolder";

    public const string Known =
        "Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz]), CIFAR-10 binary batches (data_batch_1.bin) or " +
        "train/ and val/ image folders";

    /// <summary>The layout <paramref name="folder"/> holds (<see cref="Idx"/>, <see cref="Cifar10"/>,
    /// <see cref="ImageFolder"/>), or null.</summary>
    public static string? KindOf(string folder) =>
        IdxFile(folder, "train-images-idx3-ubyte") is not null ? Idx
        : File.Exists(Path.Combine(folder, "data_batch_1.bin")) ? Cifar10
        : Directory.Exists(Path.Combine(folder, "train")) ? ImageFolder
        : null;

    /// <summary>An IDX file of the folder, gzipped or not; null when neither is there.</summary>
    public static string? IdxFile(string folder, string name) =>
        new[] { name + ".gz", name }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
}
