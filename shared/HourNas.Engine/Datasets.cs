using HourNas.SearchSpace;

namespace HourNas.Engine.Data;

/// <summary>
/// A training set and a test set of the same shape; <see cref="ClassNames"/> by label where the format names them.
/// </summary>
public sealed record Dataset(IImageSource Train, IImageSource Test, string Kind,
    IReadOnlyList<string>? ClassNames = null)
{
    /// <summary>Checks the images fit the skeleton (channels, size, classes); throws naming the mismatch.</summary>
    public Dataset CheckFits(Skeleton skeleton)
    {
        var t = Train;
        if (t.Channels != skeleton.InputChannels || t.Height != skeleton.InputSize || t.Width != skeleton.InputSize
            || t.Classes != skeleton.Classes)
            throw new DataException(
                $"{t.Source}: images are {t.Height}x{t.Width}x{t.Channels} with {t.Classes} classes, " +
                $"skeleton '{skeleton.Name}' expects " +
                $"{skeleton.InputSize}x{skeleton.InputSize}x{skeleton.InputChannels} with {skeleton.Classes}");
        return this;
    }
}

/// <summary>
/// Opens a dataset folder by what it holds: Fashion-MNIST IDX files, CIFAR-10 binary batches, or train/ + val/ image
/// folders.
/// </summary>
public static class Datasets
{
    /// <summary>
    /// The folder used when none is given: Debian's Fashion-MNIST for the presets made for it (fashion-mnist, smoke).
    /// </summary>
    public static string? DefaultFolder(Skeleton skeleton) =>
        skeleton.Name is "fashion-mnist" or "smoke" ? FashionMnist.DebianFolder : null;

    public const string KnownFormats =
        "Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz]), CIFAR-10 binary batches (data_batch_1.bin) or " +
        "train/ and val/ image folders";

    /// <summary>
    /// The format a folder holds, from its file names only ("idx", "cifar10", "imagefolder"), or null.
    /// </summary>
    public static string? KindOf(string folder) =>
        FashionMnist.LooksLike(folder) ? "idx"
        : Cifar10.LooksLike(folder) ? "cifar10"
        : ImageFolder.LooksLike(folder) ? "imagefolder"
        : null;

    public static Dataset Open(string? folder, Skeleton skeleton)
    {
        folder ??= DefaultFolder(skeleton)
            ?? throw new DataException($"no dataset folder given for preset '{skeleton.Name}': pass --data DIR");
        if (!Directory.Exists(folder))
            throw new DataException(folder == FashionMnist.DebianFolder
                ? $"dataset folder '{folder}' does not exist: " +
                    "install the Debian package dataset-fashion-mnist or pass --data DIR"
                : $"dataset folder '{folder}' does not exist");
        Dataset dataset;
        if (FashionMnist.LooksLike(folder))
        {
            var (train, test) = FashionMnist.Load(folder);
            dataset = new Dataset(train, test, "idx", train.Classes == 10 ? FashionMnist.ClassNames : null);
        }
        else if (Cifar10.LooksLike(folder))
        {
            var (train, test) = Cifar10.Load(folder);
            dataset = new Dataset(train, test, "cifar10", Cifar10.ClassNames(folder));
        }
        else if (ImageFolder.LooksLike(folder))
        {
            var (train, test) = ImageFolder.Load(folder, skeleton.InputSize, skeleton.InputChannels,
                ImageAugmentation.Of(skeleton.Recipe));
            dataset = new Dataset(train, test, "imagefolder", train.ClassNames);
        }
        else
        {
            throw new DataException($"dataset folder '{folder}' holds none of {KnownFormats}");
        }
        return dataset.CheckFits(skeleton);
    }
}
