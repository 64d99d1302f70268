using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

/// <summary>
/// Predictions with a short fine-tuning of each path (the rank study's <c>ft=</c> variants): every genotype starts
/// from the supernet's own weights, whatever was fine-tuned before it.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class FineTunedScoringTests(FashionMnistFixture fx)
{
    [Fact]
    public void Each_genotype_is_fine_tuned_from_the_saved_supernet_and_the_supernet_is_restored()
    {
        using var dir = new TempFolder();
        var a = fx.Space.Parse("k3e1 | k3e3 skip skip | k5e3 skip skip | k3e6 skip");
        var b = fx.Space.Parse("k5e6 | k3e1 k3e3 skip | k7e1 skip skip | k3e3 k5e1");
        var ctx = new StageContext(fx.Device, fx.Data, dir.Path, 1, FashionMnistFixture.Tiny(), trainLimit: 1024);
        var weights = dir.File("supernet.dat");
        manual_seed(1);
        using (var net = SuperNet.Full(fx.Space, WeightSharing.Entangled))
        {
            var data = ImageSources.Limit(fx.Data.Train, 640, 1);
            var step = 0;
            new Training.Trainer(net, FashionMnistFixture.Tiny(), fx.Device, "t", 1)
                .Train(data, Normalization.Estimate(data), _ => net.PathOf(step++ % 2 == 0 ? a : b));
            net.save(weights);
        }
        var settings = new SearchSettings(ValidationImages: 256, BatchNormBatches: 2);
        var inherited = HourNasStages.PredictAccuracy(ctx, fx.Space, weights, [a, b, a], settings);
        var tuned = HourNasStages.PredictAccuracy(ctx, fx.Space, weights, [a, b, a], settings,
            fineTune: new FineTune(Steps: 6, LearningRate: 0.05));
        Assert.Equal(inherited[0], inherited[2]);
        // a again after b was fine-tuned: the same weights, the same images, the same score.
        Assert.Equal(tuned[0], tuned[2]);
        Assert.NotEqual(inherited[0], tuned[0]);
        Assert.Throws<ArgumentException>(() => HourNasStages.PredictAccuracy(ctx, fx.Space, weights, [a], settings,
            fineTune: new FineTune(Steps: 0)));
    }
}
