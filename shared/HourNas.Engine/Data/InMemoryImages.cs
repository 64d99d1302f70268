using HourNas.SearchSpace;

namespace HourNas.Engine.Data;

/// <summary>
/// Small images held in memory as bytes (Fashion-MNIST, CIFAR-10). Training augmentation: random crop of the
/// image zero-padded by <see cref="CropPadding"/> on each side, and a random horizontal flip.
/// </summary>
public sealed class InMemoryImages : IImageSource
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    public InMemoryImages(string source, byte[] pixels, byte[] labels, int channels, int height, int width,
        int classes, int cropPadding)
    {
        var size = channels * height * width;
        if (pixels.Length != (long)labels.Length * size)
            throw new DataException($"{source}: {labels.Length} labels but {pixels.Length / (double)size} images");
        var bad = Array.FindIndex(labels, l => l >= classes);
        if (bad >= 0)
            throw new DataException($"{source}: label {labels[bad]} of image {bad} is outside 0..{classes - 1}");
        (Source, _pixels, _labels, Channels, Height, Width, Classes, CropPadding) =
            (source, pixels, labels, channels, height, width, classes, cropPadding);
    }

    public string Source { get; }

    public int Count => _labels.Length;

    public int Classes { get; }

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    public int CropPadding { get; }

    public bool IsExpensive => false;

    public int Label(int index) => _labels[index];

    public void Read(int index, Span<byte> destination, bool augment, Rng rng)
    {
        var size = Channels * Height * Width;
        var image = _pixels.AsSpan(index * size, size);
        if (!augment)
        {
            image.CopyTo(destination);
            return;
        }
        var p = CropPadding;
        int dy = rng.NextInt(2 * p + 1) - p, dx = rng.NextInt(2 * p + 1) - p;
        var flip = rng.NextInt(2) == 1;
        for (var c = 0; c < Channels; c++)
            for (var y = 0; y < Height; y++)
            {
                var sy = y + dy;
                var row = destination.Slice((c * Height + y) * Width, Width);
                if (sy < 0 || sy >= Height)
                {
                    row.Clear();
                    continue;
                }
                var src = image.Slice((c * Height + sy) * Width, Width);
                for (var x = 0; x < Width; x++)
                {
                    var sx = (flip ? Width - 1 - x : x) + dx;
                    row[x] = sx >= 0 && sx < Width ? src[sx] : (byte)0;
                }
            }
    }
}
