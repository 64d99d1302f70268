using HourNas.Engine.Data;
using HourNas.SearchSpace;
using SkiaSharp;

namespace HourNas.Engine.Tests;

/// <summary>
/// The loader's own crop-and-resize (PIL's separable filters) and its JPEG decoder, checked against Skia, which the
/// loader used before: enlarging must agree with Skia's filters, shrinking must average where Skia skips.
/// </summary>
public class ImageResamplingTests
{
    private static byte[] Rgbx(int w, int h, Func<int, int, int, byte> value)
    {
        var pixels = new byte[4 * w * h];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                for (var c = 0; c < 4; c++)
                    pixels[4 * (y * w + x) + c] = c == 3 ? (byte)255 : value(x, y, c);
        return pixels;
    }

    private static byte[] Noise(int w, int h, int seed)
    {
        var rng = new Random(seed);
        return Rgbx(w, h, (_, _, _) => (byte)rng.Next(256));
    }

    private static byte[] Resize(byte[] source, int w, int h, (double X, double Y, double W, double H) crop, int tw,
        int th, bool bicubic, bool flip = false)
    {
        var target = new byte[4 * tw * th];
        CropResampler.Resize(source, w, h, crop.X, crop.Y, crop.W, crop.H, target, tw, th, bicubic, flip);
        return target;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_whole_picture_at_its_own_size_comes_back_unchanged_and_a_flip_mirrors_it(bool bicubic)
    {
        var source = Noise(37, 23, seed: 1);
        var same = Resize(source, 37, 23, (0, 0, 37, 23), 37, 23, bicubic);
        for (var i = 0; i < same.Length; i++)
            if (i % 4 != 3) Assert.Equal(source[i], same[i]);

        var crop = (3.5, 2.25, 20.0, 15.0);
        var plain = Resize(source, 37, 23, crop, 29, 17, bicubic);
        var mirrored = Resize(source, 37, 23, crop, 29, 17, bicubic, flip: true);
        for (var y = 0; y < 17; y++)
            for (var x = 0; x < 29; x++)
                for (var c = 0; c < 3; c++)
                    Assert.Equal(plain[4 * (y * 29 + x) + c], mirrored[4 * (y * 29 + 28 - x) + c]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Enlarging_agrees_with_skias_filters(bool bicubic)
    {
        const int w = 40, h = 30, tw = 64, th = 48;
        var source = Noise(w, h, seed: 2);
        // Inside the picture, so neither side meets an edge (where Skia repeats the border and we renormalise).
        var crop = (X: 6.25, Y: 5.5, W: 25.0, H: 17.5);
        var ours = Resize(source, w, h, crop, tw, th, bicubic);

        using var image = SKImage.FromPixelCopy(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul),
            source);
        using var target = new SKBitmap(new SKImageInfo(tw, th, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(target))
        {
            var sampling = bicubic
                ? new SKSamplingOptions(SKCubicResampler.CatmullRom)
                : new SKSamplingOptions(SKFilterMode.Linear);
            canvas.DrawImage(image, SKRect.Create((float)crop.X, (float)crop.Y, (float)crop.W, (float)crop.H),
                new SKRect(0, 0, tw, th), sampling, null);
        }
        var skia = target.GetPixelSpan().ToArray();
        var differences = Enumerable.Range(0, ours.Length).Where(i => i % 4 != 3)
            .Select(i => Math.Abs(ours[i] - skia[i])).ToArray();
        Assert.True(differences.Max() <= 2, $"largest difference {differences.Max()}");
        Assert.True(differences.Average() < 0.6, $"mean difference {differences.Average():F2}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shrinking_averages_fine_detail_instead_of_skipping_it(bool bicubic)
    {
        // One-pixel stripes, shrunk about three times: an average is mid-grey everywhere; a filter that samples only
        // near each target pixel's centre (Skia's, the loader's before) draws stripes from 6 to 249 at this ratio.
        var stripes = Rgbx(64, 64, (x, _, _) => (byte)(x % 2 == 0 ? 0 : 255));
        var small = Resize(stripes, 64, 64, (0, 0, 64, 64), 21, 21, bicubic);
        // The edge columns' filters are cut by the picture's edge (and renormalised), so they lean to one side.
        Assert.All(Enumerable.Range(0, small.Length).Where(i => i % 4 != 3), i =>
            Assert.InRange(small[i], i / 4 % 21 is 0 or 20 ? 90 : 115, i / 4 % 21 is 0 or 20 ? 165 : 140));

        var flat = Rgbx(50, 40, (_, _, c) => (byte)(60 + 50 * c));
        var any = Resize(flat, 50, 40, (3.3, 1.7, 41.2, 33.9), 13, 29, bicubic, flip: true);
        Assert.All(Enumerable.Range(0, any.Length).Where(i => i % 4 != 3),
            i => Assert.Equal(60 + 50 * (i % 4), any[i]));
    }

    [Fact]
    public void A_crop_outside_the_picture_or_a_short_buffer_is_an_error()
    {
        var source = Noise(10, 10, seed: 3);
        var e = Assert.Throws<ArgumentException>(() => Resize(source, 10, 10, (5, 0, 6, 4), 4, 4, false));
        Assert.Contains("not inside", e.Message);
        Assert.Throws<ArgumentException>(() => Resize(source, 10, 11, (0, 0, 4, 4), 4, 4, false));
        Assert.Throws<ArgumentException>(() =>
            CropResampler.Resize(source, 10, 10, 0, 0, 4, 4, new byte[10], 4, 4, false, false));
    }

    [Fact]
    public void TurboJpeg_decodes_what_skia_decodes()
    {
        // test.sh installs libturbojpeg0; without it the loader falls back to Skia at 2.4 times the decode time.
        Assert.Equal("turbojpeg", ImageDecoder.JpegDecoder);
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("colour.jpg"), TestImages.Noise(96, SKEncodedImageFormat.Jpeg, seed: 4));
        // A one-channel JPEG: decoded to grey RGB by both.
        using (var grey = new SKBitmap(new SKImageInfo(64, 48, SKColorType.Gray8)))
        {
            var rng = new Random(5);
            rng.NextBytes(grey.GetPixelSpan());
            using var encoded = grey.Encode(SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(dir.File("grey.jpg"), encoded.ToArray());
        }
        foreach (var (name, size) in new[] { ("colour.jpg", (96, 96)), ("grey.jpg", (64, 48)) })
        {
            var (turbo, w, h) = ImageDecoder.Decode(dir.File(name));
            var fast = turbo[..(4 * w * h)];
            var (skia, sw, sh) = ImageDecoder.Decode(dir.File(name), useTurboJpeg: false);
            Assert.Equal(size, (w, h));
            Assert.Equal((w, h), (sw, sh));
            var differences = Enumerable.Range(0, fast.Length).Where(i => i % 4 != 3)
                .Select(i => Math.Abs(fast[i] - skia[i])).ToArray();
            Assert.True(differences.Average() < 1, $"{name}: mean difference {differences.Average():F2}");
            Assert.True(differences.Max() <= 8, $"{name}: largest difference {differences.Max()}");
        }
    }

    [Fact]
    public void Batches_do_not_depend_on_how_many_threads_decode()
    {
        using var dir = new TempFolder();
        for (var i = 0; i < 24; i++)
        {
            Directory.CreateDirectory(dir.File($"c{i % 3}"));
            File.WriteAllBytes(dir.File($"c{i % 3}/{i}.jpg"), TestImages.Noise(48, SKEncodedImageFormat.Jpeg, i));
        }
        var folder = new ImageFolder(dir.Path, 32, 3, new ImageAugmentation("bicubic", 0.4));
        var norm = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
        float[] Epoch(int workers) => BatchLoader.Read(folder, 8, norm, train: true, seed: 5, workers: workers)
            .SelectMany(b => b.Images).ToArray();
        var one = Epoch(1);
        Assert.Equal(one, Epoch(0));
        Assert.Equal(one, Epoch(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Epoch(-1));
    }
}
