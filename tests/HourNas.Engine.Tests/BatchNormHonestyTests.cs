using HourNas.Engine.Export;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.Engine.Tests;

/// <summary>
/// A retrain of few steps tests its weights, not BatchNorm's lagging running averages: below the preset's
/// <see cref="Recipe.BatchNormMinSteps"/> the statistics are re-estimated on training batches, and the result and
/// the model card say so.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class BatchNormHonestyTests(FashionMnistFixture fx)
{
    private RetrainResult Retrain(TempFolder dir, string name, int? minSteps)
    {
        var skeleton = fx.Space.Skeleton with { Recipe = new Recipe(BatchNormMinSteps: minSteps) };
        var space = new ArchitectureSpace(skeleton);
        // 2,560 images at batch 128: 20 steps, the default recipe otherwise (learning rate 0.1, 0.3 epochs warm-up).
        var ctx = new StageContext(fx.Device, fx.Data, dir.File(name), 0, new TrainSettings(Epochs: 1),
            trainLimit: 2560);
        return HourNasStages.Retrain(ctx, space, space.Parse("k3e1 | k3e6 k3e3 skip | k5e6 k3e3 skip | k3e6 k3e3"));
    }

    [Fact]
    public void A_20_step_retrain_that_tests_at_chance_with_its_running_statistics_is_re_estimated_and_says_so()
    {
        using var dir = new TempFolder();
        // The old behaviour, kept by a bound of 0 steps: the running averages still describe the first steps.
        var stale = Retrain(dir, "stale", minSteps: 0);
        Assert.Null(stale.BatchNorm);
        Assert.InRange(stale.Top1, 0, 0.2);

        var honest = Retrain(dir, "honest", minSteps: null);
        Assert.Equal(new BatchNormNote(20, Recipe.DefaultBatchNormMinSteps, 20), honest.BatchNorm);
        Assert.True(honest.Top1 > stale.Top1 + 0.2, $"re-estimated {honest.Top1:P2}, stale {stale.Top1:P2}");
        Assert.Equal(honest.BatchNorm, ModelCard.Read(dir.File("honest/model.json")).BatchNorm);
    }
}
