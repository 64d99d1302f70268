using HourNas.SearchSpace;
using SkiaSharp;

namespace HourNas.Engine.Data;

/// <summary>
/// ImageNet-style folder: one sub-folder per class (sorted names give the labels) holding JPEG or PNG files,
/// decoded with SkiaSharp to <see cref="Height"/> x <see cref="Width"/>. Training reads take a random resized crop
/// (8% to 100% of the area, aspect 3/4 to 4/3) and a random horizontal flip; evaluation reads take the centre
/// 87.5% square (the usual resize-then-centre-crop). A root with train/ and val/ sub-folders is a whole dataset.
/// A preset's recipe may ask for bicubic resizing and colour jitter (<see cref="ImageAugmentation"/>), as the released
/// HourNAS-F pipeline uses.
/// </summary>
public sealed class ImageFolder : IImageSource
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];
    private readonly (string Path, int Label)[] _items;

    private readonly ImageAugmentation _augmentation;

    public ImageFolder(string folder, int size, int channels, ImageAugmentation? augmentation = null)
    {
        _augmentation = augmentation ?? ImageAugmentation.Default;
        if (!Directory.Exists(folder)) throw new DataException($"image folder '{folder}' does not exist");
        if (channels is not (1 or 3))
            throw new DataException(
                $"image folder '{folder}': {channels} channels requested, only 1 or 3 are supported");
        ClassNames = Directory.GetDirectories(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        if (ClassNames.Count == 0) throw new DataException($"image folder '{folder}' has no class sub-folders");
        var items = new List<(string, int)>();
        for (var c = 0; c < ClassNames.Count; c++)
        {
            var files = Directory.GetFiles(Path.Combine(folder, ClassNames[c]))
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .ToArray();
            if (files.Length == 0)
                throw new DataException(
                    $"class folder '{Path.Combine(folder, ClassNames[c])}' has no .jpg, .jpeg or .png file");
            items.AddRange(files.Select(f => (f, c)));
        }
        _items = items.ToArray();
        (Source, Height, Width, Channels) = (folder, size, size, channels);
    }

    public static bool LooksLike(string root) => Directory.Exists(Path.Combine(root, "train"));

    /// <summary>A root with train/ and val/ (the test split, as ImageNet's validation set is used).</summary>
    public static (ImageFolder Train, ImageFolder Test) Load(string root, int size, int channels,
        ImageAugmentation? augmentation = null)
    {
        var train = new ImageFolder(Path.Combine(root, "train"), size, channels, augmentation);
        var test = new ImageFolder(Path.Combine(root, "val"), size, channels, augmentation);
        if (!train.ClassNames.SequenceEqual(test.ClassNames))
            throw new DataException($"'{root}': train/ and val/ have different class folders");
        return (train, test);
    }

    public IReadOnlyList<string> ClassNames { get; }

    public string Source { get; }

    public int Count => _items.Length;

    public int Classes => ClassNames.Count;

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    public bool IsExpensive => true;

    public int Label(int index) => _items[index].Label;

    public void Read(int index, Span<byte> destination, bool augment, Rng rng)
    {
        var path = _items[index].Path;
        using var bitmap = Decode(path);
        // An immutable bitmap is wrapped, not copied, by SKImage.FromBitmap.
        bitmap.SetImmutable();
        using var image = SKImage.FromBitmap(bitmap);
        var crop = augment
            ? RandomResizedCrop(bitmap.Width, bitmap.Height, rng)
            : CentreCrop(bitmap.Width, bitmap.Height);
        var flip = augment && rng.NextInt(2) == 1;
        using var target = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(target))
        {
            if (flip)
            {
                canvas.Translate(Width, 0);
                canvas.Scale(-1, 1);
            }
            canvas.DrawImage(image, crop, new SKRect(0, 0, Width, Height), _augmentation.Sampling, null);
        }
        var rgba = target.GetPixelSpan();
        if (augment && _augmentation.ColourJitter > 0) _augmentation.Jitter(rgba, rng);
        var plane = Width * Height;
        for (var i = 0; i < plane; i++)
        {
            byte r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
            if (Channels == 1)
            {
                destination[i] = (byte)((299 * r + 587 * g + 114 * b + 500) / 1000);
            }
            else
            {
                destination[i] = r;
                destination[plane + i] = g;
                destination[2 * plane + i] = b;
            }
        }
    }

    /// <summary>
    /// Decodes the whole file or fails: SkiaSharp's one-call decoders return a partly black picture for a file cut
    /// short, which would train and test silently on garbage; the codec says whether the decode was complete.
    /// </summary>
    private static SKBitmap Decode(string path)
    {
        SKData data;
        try
        {
            // Read straight into Skia's buffer: the loader decodes every image every epoch.
            using var stream = File.OpenRead(path);
            data = SKData.Create(stream) ?? throw new DataException($"{path}: empty file, not an image");
        }
        catch (IOException e)
        {
            throw new DataException($"{path}: cannot be read: {e.Message}");
        }
        using (data)
        {
            using var codec = SKCodec.Create(data)
                ?? throw new DataException($"{path}: not a decodable JPEG or PNG (corrupt, or not an image)");
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888,
                SKAlphaType.Unpremul);
            var bitmap = new SKBitmap(info);
            var result = codec.GetPixels(info, bitmap.GetPixels());
            if (result == SKCodecResult.Success) return bitmap;
            bitmap.Dispose();
            throw new DataException(result == SKCodecResult.IncompleteInput
                ? $"{path}: incomplete image (the file ends before the picture does: truncated?)"
                : $"{path}: incomplete or corrupt image ({result})");
        }
    }

    private static SKRect CentreCrop(int w, int h)
    {
        var side = Math.Min(w, h) * 0.875f;
        return SKRect.Create((w - side) / 2, (h - side) / 2, side, side);
    }

    private static SKRect RandomResizedCrop(int w, int h, Rng rng)
    {
        double area = (double)w * h;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var target = area * (0.08 + rng.NextDouble() * 0.92);
            var ratio = Math.Exp(Math.Log(3.0 / 4) + rng.NextDouble() * (Math.Log(4.0 / 3) - Math.Log(3.0 / 4)));
            var cw = Math.Sqrt(target * ratio);
            var ch = Math.Sqrt(target / ratio);
            if (cw > w || ch > h) continue;
            var x = rng.NextDouble() * (w - cw);
            var y = rng.NextDouble() * (h - ch);
            return SKRect.Create((float)x, (float)y, (float)cw, (float)ch);
        }
        return CentreCrop(w, h);
    }
}

/// <summary>
/// How an image folder resizes and colours its training reads: bilinear or bicubic (Catmull-Rom, the a = -0.5 cubic
/// of PIL's bicubic) resizing, and colour jitter of strength J: brightness, contrast and saturation each scaled by a
/// factor drawn from [1 - J, 1 + J], in a random order per image (as torchvision's ColorJitter(J, J, J)).
/// </summary>
public sealed record ImageAugmentation(string Interpolation = "bilinear", double ColourJitter = 0)
{
    public static readonly ImageAugmentation Default = new();

    /// <summary>The preset's choices, checked: an unknown filter or a jitter outside [0, 1) is an error.</summary>
    public static ImageAugmentation Of(Recipe? recipe)
    {
        var interpolation = recipe?.Interpolation ?? "bilinear";
        if (!Recipe.Interpolations.Contains(interpolation))
            throw new DataException($"the recipe's interpolation '{interpolation}' is not one of " +
                string.Join(", ", Recipe.Interpolations));
        var jitter = recipe?.ColourJitter ?? 0;
        if (jitter is < 0 or >= 1 || !double.IsFinite(jitter))
            throw new DataException($"the recipe's colour jitter must be in [0, 1), got {jitter}");
        return new ImageAugmentation(interpolation, jitter);
    }

    public SKSamplingOptions Sampling => Interpolation == "bicubic"
        ? new SKSamplingOptions(SKCubicResampler.CatmullRom)
        : new SKSamplingOptions(SKFilterMode.Linear);

    /// <summary>
    /// Jitters RGBA pixels in place. Brightness and contrast map each value on its own, so each is one 256-entry
    /// table; saturation needs each pixel's grey. (Per-value double arithmetic cost a quarter of a read at 224 px.)
    /// </summary>
    public void Jitter(Span<byte> rgba, Rng rng)
    {
        var order = new[] { 0, 1, 2 };
        for (var i = 2; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var factors = order.Select(_ => 1 - ColourJitter + 2 * ColourJitter * rng.NextDouble()).ToArray();
        var pixels = rgba.Length / 4;
        Span<byte> table = stackalloc byte[256];
        for (var k = 0; k < 3; k++)
        {
            var f = factors[k];
            switch (order[k])
            {
                case 0: // brightness: towards black
                    for (var v = 0; v < 256; v++) table[v] = Clamp(v * f);
                    Apply(rgba, table);
                    break;
                case 1: // contrast: towards the image's mean grey
                    long sum = 0;
                    for (var i = 0; i < pixels; i++)
                        sum += 299 * rgba[4 * i] + 587 * rgba[4 * i + 1] + 114 * rgba[4 * i + 2];
                    var mean = sum / 1000.0 / pixels;
                    for (var v = 0; v < 256; v++) table[v] = Clamp(mean + (v - mean) * f);
                    Apply(rgba, table);
                    break;
                default: // saturation: towards each pixel's grey
                    var fs = (float)f;
                    for (var i = 0; i < pixels; i++)
                    {
                        var o = 4 * i;
                        var grey = 0.299f * rgba[o] + 0.587f * rgba[o + 1] + 0.114f * rgba[o + 2];
                        for (var c = 0; c < 3; c++) rgba[o + c] = Clamp(grey + (rgba[o + c] - grey) * fs);
                    }
                    break;
            }
        }
    }

    private static void Apply(Span<byte> rgba, ReadOnlySpan<byte> table)
    {
        for (var i = 0; i < rgba.Length; i += 4)
        {
            rgba[i] = table[rgba[i]];
            rgba[i + 1] = table[rgba[i + 1]];
            rgba[i + 2] = table[rgba[i + 2]];
        }
    }

    private static byte Clamp(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);

    private static byte Clamp(double v) => (byte)Math.Clamp(Math.Round(v), 0, 255);
}
