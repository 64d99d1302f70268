using System.Diagnostics;
using System.Globalization;
using HourNas.Engine.Data;
using HourNas.SearchSpace;
using SkiaSharp;

// The image-folder loader's throughput for an ImageNet-style recipe, for docs/performance.md (issue 15): decode of
// a JPEG, random resized crop to 224 with the imagenet preset's interpolation and colour jitter, flip, per image.
//   --images N (2048) --size 256 --crop 224 --passes 3 --quality 90
//   --interpolation bicubic|bilinear --jitter 0.4 (default: the imagenet preset's recipe), to measure the parts
//   --write DIR [--classes 10] [--train-per-class 20] [--val-per-class 5]: instead, write an ImageNet-style folder
//     (DIR/train/<class>/*.jpg, DIR/val/<class>/*.jpg) of such pictures, for end-to-end runs at 224 px
// Generates N photo-like JPEGs (smooth gradients and shapes with mild noise, so they compress like photographs,
// not like noise) in a temporary folder, then measures one thread reading every image, and the batch loader
// (parallel over all cores) reading them in batches; prints images/s, per-core rates and parallel efficiency.
var opts = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--")).ToDictionary(x => x.a[2..],
    x => args[x.i + 1]);
int Opt(string k, int d) => opts.TryGetValue(k, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : d;
int count = Opt("images", 2048), size = Opt("size", 256), crop = Opt("crop", 224), passes = Opt("passes", 3);
var quality = Opt("quality", 90);

if (opts.TryGetValue("write", out var target))
{
    int classes = Opt("classes", 10), trainPer = Opt("train-per-class", 20), valPer = Opt("val-per-class", 5);
    var written = 0;
    foreach (var (split, per) in new[] { ("train", trainPer), ("val", valPer) })
        for (var c = 0; c < classes; c++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(target, split, $"class{c:D2}")).FullName;
            for (var i = 0; i < per; i++)
            {
                // The class sets the seed's high part, so a class's pictures share nothing but their generator.
                var jpeg = PhotoLike(size, c * 100_000 + (split == "val" ? 50_000 : 0) + i, quality);
                File.WriteAllBytes(Path.Combine(folder, $"{i:D5}.jpg"), jpeg);
                written++;
            }
        }
    Console.WriteLine($"wrote {written} pictures of {size} px in {classes} classes to {target}");
    return;
}

var root = Directory.CreateTempSubdirectory("hournas-loader-").FullName;
try
{
    var bytes = 0L;
    for (var i = 0; i < count; i++)
    {
        var folder = Directory.CreateDirectory(Path.Combine(root, $"class{i % 10}")).FullName;
        var jpeg = PhotoLike(size, i, quality);
        bytes += jpeg.Length;
        File.WriteAllBytes(Path.Combine(folder, $"{i:D5}.jpg"), jpeg);
    }
    var preset = ImageAugmentation.Of(Presets.Skeleton("imagenet").Recipe);
    var augmentation = new ImageAugmentation(
        opts.TryGetValue("interpolation", out var interpolation) ? interpolation : preset.Interpolation,
        opts.TryGetValue("jitter", out var jitter) ? double.Parse(jitter, CultureInfo.InvariantCulture)
            : preset.ColourJitter);
    var source = new ImageFolder(root, crop, 3, augmentation);
    var buffer = new byte[3 * crop * crop];

    // One thread: every image once per pass (an epoch reads each image once: one decode).
    var rng = new Rng(1);
    var norm = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
    // One untimed pass of each, so the timed ones see the compiled code a long training run sees.
    for (var i = 0; i < count; i++) source.Read(i, buffer, augment: true, rng);
    foreach (var _ in BatchLoader.Read(source, 64, norm, train: true, seed: 99)) { }
    var single = new List<double>();
    var oneWorker = new List<double>();
    var parallel = new List<double>();
    double Loader(int workers, ulong seed)
    {
        var clock = Stopwatch.StartNew();
        var seen = 0;
        foreach (var batch in BatchLoader.Read(source, 64, norm, train: true, seed, workers: workers))
            seen += batch.Count;
        return seen / clock.Elapsed.TotalSeconds;
    }
    // Alternated, so the machine's drift falls on all three.
    for (var p = 0; p < passes; p++)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) source.Read(i, buffer, augment: true, rng);
        single.Add(count / clock.Elapsed.TotalSeconds);
        oneWorker.Add(Loader(1, (ulong)p));
        parallel.Add(Loader(0, (ulong)p));
    }
    var cores = Environment.ProcessorCount;
    static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
    static string All(List<double> xs) =>
        string.Join("/", xs.Select(x => x.ToString("F0", CultureInfo.InvariantCulture)));
    var (one, loaderOne, all) = (Median(single), Median(oneWorker), Median(parallel));
    // Efficiency compares the loader with itself on one thread: batches also pay for normalising into floats.
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"images={count} size={size} crop={crop} decoder={ImageDecoder.JpegDecoder} " +
        $"interpolation={augmentation.Interpolation} " +
        $"jitter={augmentation.ColourJitter} mean_jpeg_kb={bytes / 1024.0 / count:F1} cores={cores} " +
        $"read_one_thread_img_s={one:F0} ({All(single)}) " +
        $"loader_one_thread_img_s={loaderOne:F0} ({All(oneWorker)}) " +
        $"loader_img_s={all:F0} ({All(parallel)}) " +
        $"per_core_img_s={all / cores:F0} parallel_efficiency={all / (cores * loaderOne):P0} " +
        $"gc_pause_s={GC.GetTotalPauseDuration().TotalSeconds:F2}"));
}
finally
{
    Directory.Delete(root, true);
}

// Smooth colour gradients, a few filled shapes and mild noise: JPEG sizes of photographs at this size.
static byte[] PhotoLike(int size, int seed, int quality)
{
    var rng = new Random(seed);
    using var bitmap = new SKBitmap(size, size);
    using (var canvas = new SKCanvas(bitmap))
    {
        SKColor Colour() => new((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
        using var gradient = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(size, size),
            [Colour(), Colour(), Colour()], SKShaderTileMode.Clamp);
        using var paint = new SKPaint { Shader = gradient };
        canvas.DrawRect(0, 0, size, size, paint);
        for (var s = 0; s < 6; s++)
        {
            using var shape = new SKPaint { Color = Colour().WithAlpha(180), IsAntialias = true };
            canvas.DrawCircle(rng.Next(size), rng.Next(size), 10 + rng.Next(size / 3), shape);
        }
    }
    var pixels = bitmap.GetPixelSpan();
    for (var i = 0; i < pixels.Length; i++)
        if (i % 4 != 3) pixels[i] = (byte)Math.Clamp(pixels[i] + rng.Next(-12, 13), 0, 255);
    using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, quality);
    return data.ToArray();
}
