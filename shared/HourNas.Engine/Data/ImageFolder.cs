using System.Numerics;
using System.Runtime.InteropServices;
using HourNas.SearchSpace;

namespace HourNas.Engine.Data;

/// <summary>
/// ImageNet-style folder: one sub-folder per class (sorted names give the labels) holding JPEG or PNG files,
/// decoded by <see cref="ImageDecoder"/> and resized by <see cref="CropResampler"/> to <see cref="Height"/> x
/// <see cref="Width"/>. Training reads take a random resized crop
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

    [ThreadStatic] private static byte[]? ResizedBuffer;

    public void Read(int index, Span<byte> destination, bool augment, Rng rng)
    {
        var path = _items[index].Path;
        var (pixels, w, h) = ImageDecoder.Decode(path);
        var crop = augment ? RandomResizedCrop(w, h, rng) : CentreCrop(w, h);
        var flip = augment && rng.NextInt(2) == 1;
        var plane = Width * Height;
        var rgbx = PixelVectors.Grow(ref ResizedBuffer, 4 * plane).AsSpan(0, 4 * plane);
        CropResampler.Resize(pixels, w, h, crop.X, crop.Y, crop.Width, crop.Height, rgbx, Width, Height,
            _augmentation.Interpolation == "bicubic", flip);
        // Three planes: the destination itself, or this thread's scratch when a grey picture is wanted.
        var planes = Channels == 3 ? destination[..(3 * plane)]
            : PixelVectors.Grow(ref PlanesBuffer, 3 * plane).AsSpan(0, 3 * plane);
        for (var i = 0; i < plane; i++)
        {
            planes[i] = rgbx[4 * i];
            planes[plane + i] = rgbx[4 * i + 1];
            planes[2 * plane + i] = rgbx[4 * i + 2];
        }
        if (augment && _augmentation.ColourJitter > 0) _augmentation.Jitter(planes, plane, rng);
        if (Channels == 1)
            for (var i = 0; i < plane; i++)
                destination[i] = (byte)((299 * planes[i] + 587 * planes[plane + i] + 114 * planes[2 * plane + i] + 500)
                    / 1000);
    }

    [ThreadStatic] private static byte[]? PlanesBuffer;

    private static (double X, double Y, double Width, double Height) CentreCrop(int w, int h)
    {
        var side = Math.Min(w, h) * 0.875;
        return ((w - side) / 2, (h - side) / 2, side, side);
    }

    private static (double X, double Y, double Width, double Height) RandomResizedCrop(int w, int h, Rng rng)
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
            return (x, y, cw, ch);
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

    [ThreadStatic] private static float[]? JitterBuffer;

    /// <summary>
    /// Jitters a picture held as three planes (red, green, blue; <paramref name="plane"/> bytes each) in place. The
    /// steps work on floats, each clamped to [0, 255], and the result is rounded once (per-value double arithmetic
    /// on bytes had cost a third of a read at 224 px).
    /// </summary>
    public void Jitter(Span<byte> planes, int plane, Rng rng)
    {
        if (planes.Length != 3 * plane)
            throw new ArgumentException($"three planes of {plane} bytes are {3 * plane} bytes, got {planes.Length}");
        var order = new[] { 0, 1, 2 };
        for (var i = 2; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var factors = order.Select(_ => (float)(1 - ColourJitter + 2 * ColourJitter * rng.NextDouble())).ToArray();
        var values = PixelVectors.Grow(ref JitterBuffer, 3 * plane).AsSpan(0, 3 * plane);
        PixelVectors.Widen(planes, values);
        for (var k = 0; k < 3; k++)
        {
            var f = factors[k];
            switch (order[k])
            {
                case 0: // brightness: towards black
                    Blend(values, f, 0);
                    break;
                case 1: // contrast: towards the picture's mean grey
                    Blend(values, f, (1 - f) * MeanGrey(values, plane));
                    break;
                default: // saturation: towards each pixel's grey
                    Saturate(values, plane, f);
                    break;
            }
        }
        PixelVectors.Narrow(values, planes);
    }

    /// <summary>v = clamp(v * f + add), every value.</summary>
    private static void Blend(Span<float> values, float f, float add)
    {
        var (vf, va) = (new Vector<float>(f), new Vector<float>(add));
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
        for (var i = 0; i < vectors.Length; i++) vectors[i] = vectors[i] * vf + va;
        for (var i = vectors.Length * Vector<float>.Count; i < values.Length; i++) values[i] = values[i] * f + add;
        PixelVectors.Clamp(values);
    }

    private static float MeanGrey(ReadOnlySpan<float> values, int plane)
    {
        double sum = 0;
        for (var c = 0; c < 3; c++)
        {
            var channel = values.Slice(c * plane, plane);
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(channel);
            var acc = Vector<float>.Zero;
            foreach (var v in vectors) acc += v;
            double s = Vector.Sum(acc);
            for (var i = vectors.Length * Vector<float>.Count; i < plane; i++) s += channel[i];
            sum += GreyWeights[c] * s;
        }
        return (float)(sum / plane);
    }

    /// <summary>Each channel blended with its pixel's grey: c = clamp(grey + (c - grey) * f).</summary>
    private static void Saturate(Span<float> values, int plane, float f)
    {
        var red = values[..plane];
        var green = values.Slice(plane, plane);
        var blue = values.Slice(2 * plane, plane);
        var vr = MemoryMarshal.Cast<float, Vector<float>>(red);
        var vg = MemoryMarshal.Cast<float, Vector<float>>(green);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(blue);
        var (wr, wg, wb) = (new Vector<float>(GreyWeights[0]), new Vector<float>(GreyWeights[1]),
            new Vector<float>(GreyWeights[2]));
        var (vf, keep) = (new Vector<float>(f), new Vector<float>(1 - f));
        for (var i = 0; i < vr.Length; i++)
        {
            var grey = (wr * vr[i] + wg * vg[i] + wb * vb[i]) * keep;
            (vr[i], vg[i], vb[i]) = (vr[i] * vf + grey, vg[i] * vf + grey, vb[i] * vf + grey);
        }
        for (var i = vr.Length * Vector<float>.Count; i < plane; i++)
        {
            var grey = (GreyWeights[0] * red[i] + GreyWeights[1] * green[i] + GreyWeights[2] * blue[i]) * (1 - f);
            (red[i], green[i], blue[i]) = (red[i] * f + grey, green[i] * f + grey, blue[i] * f + grey);
        }
        PixelVectors.Clamp(values);
    }

    private static readonly float[] GreyWeights = [0.299f, 0.587f, 0.114f];
}
