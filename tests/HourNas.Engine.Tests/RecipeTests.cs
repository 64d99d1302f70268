using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using SkiaSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

/// <summary>
/// The parts of a preset's recipe the released HourNAS-F pipeline uses: dropout before the classifier, bicubic
/// resizing and colour jitter of image-folder reads.
/// </summary>
public sealed class RecipeTests
{
    [Fact]
    public void The_imagenet_preset_uses_the_released_pipelines_recipe()
    {
        var recipe = Presets.Skeleton("imagenet").Recipe!;
        Assert.Equal((0.2, 0.4, "bicubic", 256),
            (recipe.Dropout, recipe.ColourJitter, recipe.Interpolation, recipe.ReferenceBatchSize));
        Assert.Null(Presets.Skeleton("cifar10").Recipe?.Dropout);
    }

    [Fact]
    public void A_stand_alone_network_drops_out_before_the_classifier_while_training_only()
    {
        var skeleton = Presets.Skeleton("fashion-mnist");
        var plain = new ArchitectureSpace(skeleton);
        var dropping = new ArchitectureSpace(skeleton with { Recipe = new Recipe(Dropout: 0.5) });
        var genotype = plain.Parse("k3e1 | k3e6 skip skip | k5e3 k3e3 skip | k3e6 skip");
        manual_seed(1);
        using var x = randn(4, 1, 28, 28);
        using var withDropout = SuperNet.Child(dropping, genotype);
        Assert.Equal(0.5, withDropout.Dropout);
        withDropout.train();
        using (no_grad())
        {
            using var a = withDropout.call(x);
            using var b = withDropout.call(x);
            Assert.False(a.allclose(b), "two training passes with dropout gave the same logits");
            withDropout.eval();
            using var c = withDropout.call(x);
            using var d = withDropout.call(x);
            Assert.True(c.allclose(d));
            using var without = SuperNet.Child(plain, genotype);
            without.train();
            using var e = without.call(x);
            using var f = without.call(x);
            Assert.True(e.allclose(f));
        }
        Assert.Throws<ArgumentException>(() => new SuperNet(plain,
            genotype.Blocks.Select(op => (IReadOnlyList<Operation>)[op]).ToArray(), dropout: 1.0));
    }

    [Fact]
    public void Colour_jitter_changes_training_reads_is_seeded_and_keeps_grey_grey()
    {
        var jitter = new ImageAugmentation("bilinear", 0.4);
        const int plane = 100; // not a multiple of the vector width, so the tails run too
        var original = Enumerable.Range(0, 3 * plane).Select(i => (byte)(i * 37 % 256)).ToArray();
        byte[] Jittered(byte[] pixels, ulong seed)
        {
            var copy = (byte[])pixels.Clone();
            jitter.Jitter(copy, plane, new Rng(seed));
            return copy;
        }
        var first = Jittered(original, 7);
        Assert.Equal(first, Jittered(original, 7));
        Assert.NotEqual(original, first);
        Assert.NotEqual(first, Jittered(original, 8));

        // Brightness, contrast and saturation all keep a grey pixel grey (R = G = B), whatever the factors.
        var grey = Enumerable.Range(0, 3 * plane).Select(i => (byte)(i % plane * 2)).ToArray();
        for (var seed = 1UL; seed <= 20; seed++)
        {
            var g = Jittered(grey, seed);
            Assert.All(Enumerable.Range(0, plane), i =>
            {
                Assert.InRange(Math.Abs(g[i] - g[plane + i]), 0, 1);
                Assert.InRange(Math.Abs(g[i] - g[2 * plane + i]), 0, 1);
            });
        }
        Assert.Throws<ArgumentException>(() => jitter.Jitter(new byte[10], plane, new Rng(1)));
    }

    [Fact]
    public void Bicubic_resizing_differs_from_bilinear_and_bad_recipes_are_named()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("cat"));
        File.WriteAllBytes(dir.File("cat/a.png"), TestImages.Noise(100, SKEncodedImageFormat.Png, seed: 3));
        byte[] Read(string interpolation)
        {
            var folder = new ImageFolder(dir.Path, 24, 3, new ImageAugmentation(interpolation));
            var pixels = new byte[3 * 24 * 24];
            folder.Read(0, pixels, augment: false, new Rng(1));
            return pixels;
        }
        Assert.NotEqual(Read("bilinear"), Read("bicubic"));

        var e = Assert.Throws<DataException>(() => ImageAugmentation.Of(new Recipe(Interpolation: "lanczos")));
        Assert.Contains("lanczos", e.Message);
        e = Assert.Throws<DataException>(() => ImageAugmentation.Of(new Recipe(ColourJitter: 1.5)));
        Assert.Contains("colour jitter", e.Message);
        Assert.Equal(ImageAugmentation.Default, ImageAugmentation.Of(null));
    }
}
