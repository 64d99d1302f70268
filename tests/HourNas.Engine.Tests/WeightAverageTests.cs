using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

/// <summary>The optional exponential moving average of a retrained network's weights (a recipe part).</summary>
[Collection(FashionMnistCollection.Name)]
public sealed class WeightAverageTests(FashionMnistFixture fx)
{
    private const string Genotype = "k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip";

    private static Dictionary<string, Tensor> Snapshot(SuperNet net) =>
        net.LiveState().Where(t => t.Tensor.is_floating_point())
            .ToDictionary(t => t.Name, t => t.Tensor.detach().clone());

    [Fact]
    public void Training_ends_with_the_average_of_every_steps_weights_under_the_ramped_decay()
    {
        var data = ImageSources.Limit(fx.Data.Train, 384, 1);
        var norm = Normalization.Estimate(data);
        const double decay = 0.8;
        manual_seed(4);
        using var net = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        // The expected average, replayed from the weights after each step (progress comes after every step here).
        var average = Snapshot(net);
        var step = 0L;
        new Trainer(net, FashionMnistFixture.Tiny(epochs: 2) with { WeightAverageDecay = decay }, fx.Device, "t", 2,
            progress: p =>
            {
                if (p.Phase != "train") return;
                var d = Math.Min(decay, (1.0 + step) / (10.0 + step));
                foreach (var (name, live) in net.LiveState().Where(t => t.Tensor.is_floating_point()))
                {
                    var next = average[name] * d + live.detach() * (1 - d);
                    average[name].Dispose();
                    average[name] = next;
                }
                step++;
            }).Train(data, norm);

        Assert.Equal(2 * 384 / 64, step);
        foreach (var (name, live) in net.LiveState().Where(t => t.Tensor.is_floating_point()))
            Assert.True(live.allclose(average[name], rtol: 1e-4, atol: 1e-6), $"{name} is not the average");
        // And the average is not the last step's weights: the run without it ends elsewhere.
        manual_seed(4);
        using var plain = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        new Trainer(plain, FashionMnistFixture.Tiny(epochs: 2), fx.Device, "t", 2).Train(data, norm);
        var last = Snapshot(plain);
        Assert.Contains(net.LiveState().Where(t => t.Tensor.is_floating_point()),
            t => !t.Tensor.allclose(last[t.Name], rtol: 1e-3, atol: 1e-5));
    }

    [Fact]
    public void A_resumed_run_continues_the_same_average()
    {
        var data = ImageSources.Limit(fx.Data.Train, 640, 1);
        var norm = Normalization.Estimate(data);
        var settings = FashionMnistFixture.Tiny(epochs: 2) with { WeightAverageDecay = 0.9 };
        using var dir = new TempFolder();

        manual_seed(3);
        using var straight = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        new Trainer(straight, settings, fx.Device, "t", 5, dir.File("a")).Train(data, norm);

        manual_seed(3);
        using var interrupted = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        using var cancel = new CancellationTokenSource();
        var crashing = new Trainer(interrupted, settings, fx.Device, "t", 5, dir.File("b"),
            p => { if (p.Epoch == 2) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => crashing.Train(data, norm, cancellation: cancel.Token));

        manual_seed(99);
        using var resumed = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        new Trainer(resumed, settings, fx.Device, "t", 5, dir.File("b")).Train(data, norm);
        var expected = Snapshot(straight);
        foreach (var (name, tensor) in resumed.LiveState().Where(t => t.Tensor.is_floating_point()))
            Assert.True(tensor.allclose(expected[name], rtol: 1e-5, atol: 1e-6), $"{name} differs after resume");
    }

    [Fact]
    public void A_checkpoint_without_an_average_and_a_bad_decay_are_refused()
    {
        var data = ImageSources.Limit(fx.Data.Train, 128, 1);
        var norm = Normalization.Estimate(data);
        using var dir = new TempFolder();
        using var net = SuperNet.Child(fx.Space, fx.Space.Parse(Genotype));
        new Trainer(net, FashionMnistFixture.Tiny(), fx.Device, "t", 1, dir.Path).Train(data, norm);
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(net,
            FashionMnistFixture.Tiny() with { WeightAverageDecay = 0.99 }, fx.Device, "t", 1, dir.Path)
            .Train(data, norm));
        Assert.Contains("no weight average", e.Message);
        var bad = Assert.Throws<ArgumentException>(() =>
            new Trainer(net, FashionMnistFixture.Tiny() with { WeightAverageDecay = 1.0 }, fx.Device, "t", 1));
        Assert.Contains("decay", bad.Message);
    }

    [Fact]
    public void The_presets_weight_average_reaches_the_retraining()
    {
        using var dir = new TempFolder();
        byte[] RetrainedWeights(string name, double? decay)
        {
            var space = new ArchitectureSpace(fx.Space.Skeleton with { Recipe = new Recipe(WeightAverage: decay) });
            var ctx = new StageContext(fx.Device, fx.Data, dir.File(name), 0, new TrainSettings(Epochs: 1),
                trainLimit: 640);
            HourNasStages.Retrain(ctx, space, space.Parse(Genotype));
            return File.ReadAllBytes(dir.File($"{name}/weights.dat"));
        }
        var plain = RetrainedWeights("plain", null);
        Assert.Equal(plain, RetrainedWeights("plain-again", null));
        Assert.NotEqual(plain, RetrainedWeights("averaged", 0.9));
    }
}
