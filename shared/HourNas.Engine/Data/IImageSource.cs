using HourNas.SearchSpace;

namespace HourNas.Engine.Data;

/// <summary>
/// Labelled images of one fixed shape (C x H x W bytes). Training reads may augment, using the given random
/// source only, so a seeded run reads the same pixels every time.
/// </summary>
public interface IImageSource
{
    /// <summary>Where the images come from, for messages.</summary>
    string Source { get; }

    int Count { get; }

    int Classes { get; }

    int Channels { get; }

    int Height { get; }

    int Width { get; }

    /// <summary>True when reading an image costs real work (decoding), so loaders should read in parallel.</summary>
    bool IsExpensive { get; }

    int Label(int index);

    /// <summary>
    /// Writes image <paramref name="index"/> as C*H*W bytes (channel-major) into <paramref name="destination"/>.
    /// </summary>
    void Read(int index, Span<byte> destination, bool augment, Rng rng);
}

/// <summary>A subset of another source, by index (a split).</summary>
public sealed class SubsetSource(IImageSource inner, IReadOnlyList<int> indices, string name) : IImageSource
{
    public IReadOnlyList<int> Indices { get; } = indices;

    public string Source => $"{inner.Source} ({name})";

    public int Count => Indices.Count;

    public int Classes => inner.Classes;

    public int Channels => inner.Channels;

    public int Height => inner.Height;

    public int Width => inner.Width;

    public bool IsExpensive => inner.IsExpensive;

    public int Label(int index) => inner.Label(Indices[index]);

    public void Read(int index, Span<byte> destination, bool augment, Rng rng) =>
        inner.Read(Indices[index], destination, augment, rng);
}

public static class ImageSources
{
    /// <summary>
    /// Holds out a seeded random <paramref name="validationFraction"/> of a training set for search (never the test
    /// set).
    /// </summary>
    public static (SubsetSource Train, SubsetSource Validation) HoldOut(IImageSource source, double validationFraction,
        ulong seed)
    {
        if (!(validationFraction is > 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "must be in (0, 1)");
        var order = Enumerable.Range(0, source.Count).ToArray();
        new Rng(seed).Shuffle(order);
        var validation = Math.Max(1, (int)Math.Round(source.Count * validationFraction));
        return (new SubsetSource(source, order[validation..].Order().ToArray(), "search train split"),
            new SubsetSource(source, order[..validation].Order().ToArray(), "search validation split"));
    }

    /// <summary>
    /// The first <paramref name="limit"/> images of a seeded shuffle (for small runs), or the source itself.
    /// </summary>
    public static IImageSource Limit(IImageSource source, int? limit, ulong seed)
    {
        if (limit is not { } n || n >= source.Count) return source;
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "must be at least 1");
        var order = Enumerable.Range(0, source.Count).ToArray();
        new Rng(seed ^ 0x5EED).Shuffle(order);
        return new SubsetSource(source, order[..n].Order().ToArray(), $"{n} images");
    }
}
