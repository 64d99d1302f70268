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
    public void Colour_jitter_changes_training_reads_within_bounds_and_is_seeded()
    {
        var jitter = new ImageAugmentation("bilinear", 0.4);
        var original = Enumerable.Range(0, 64 * 4).Select(i => (byte)(i % 4 == 3 ? 255 : (i * 37) % 256)).ToArray();
        var first = (byte[])original.Clone();
        var again = (byte[])original.Clone();
        jitter.Jitter(first, new Rng(7));
        jitter.Jitter(again, new Rng(7));
        Assert.Equal(first, again);
        Assert.NotEqual(original, first);
        // Alpha untouched.
        Assert.All(Enumerable.Range(0, 64), i => Assert.Equal(255, first[4 * i + 3]));
        var other = (byte[])original.Clone();
        jitter.Jitter(other, new Rng(8));
        Assert.NotEqual(first, other);
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
