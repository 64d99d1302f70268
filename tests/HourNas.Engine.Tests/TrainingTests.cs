using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

[Collection(FashionMnistCollection.Name)]
public class TrainingTests(FashionMnistFixture fx)
{
    private IImageSource Small(int n) => ImageSources.Limit(fx.Data.Train, n, 1);

    private static Dictionary<string, Tensor> Snapshot(SuperNet net) =>
        net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    // A stand-alone network with dropout before the classifier (the imagenet and cifar10 recipes have it).
    private SuperNet WithDropout(Genotype g, double dropout) =>
        new(fx.Space, g.Blocks.Select(op => (IReadOnlyList<Operation>)[op]).ToArray(), dropout: dropout);

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    public void A_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(double dropout)
    {
        var data = Small(640);
        var norm = Normalization.Estimate(data);
        var g = fx.Space.Parse("k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip");
        using var dir = new TempFolder();

        manual_seed(3);
        using var straight = WithDropout(g, dropout);
        new Trainer(straight, FashionMnistFixture.Tiny(epochs: 2), fx.Device, "t", 5, dir.File("a")).Train(data, norm);

        manual_seed(3);
        using var interrupted = WithDropout(g, dropout);
        using var cancel = new CancellationTokenSource();
        var crashing = new Trainer(interrupted, FashionMnistFixture.Tiny(epochs: 2), fx.Device, "t", 5, dir.File("b"),
            p => { if (p.Epoch == 2) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => crashing.Train(data, norm, cancellation: cancel.Token));

        manual_seed(99); // different initial weights: the checkpoint must replace them
        using var resumed = WithDropout(g, dropout);
        var result = new Trainer(resumed, FashionMnistFixture.Tiny(epochs: 2), fx.Device, "t", 5, dir.File("b"))
            .Train(data, norm);
        Assert.Equal(2 * (640 / 64) * 64, result.ImagesSeen);

        var expected = Snapshot(straight);
        foreach (var (name, tensor) in resumed.state_dict())
            Assert.True(tensor.allclose(expected[name], rtol: 1e-5, atol: 1e-6), $"{name} differs after resume");
    }

    [Fact]
    public void Dropout_masks_come_from_the_runs_seed_not_from_libtorchs_global_generator()
    {
        var data = Small(320);
        var norm = Normalization.Estimate(data);
        var g = fx.Space.Parse("k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip");
        manual_seed(3);
        using var alone = WithDropout(g, 0.3);
        new Trainer(alone, FashionMnistFixture.Tiny(), fx.Device, "t", 5).Train(data, norm);

        manual_seed(3);
        using var disturbed = WithDropout(g, 0.3);
        // Between steps another stage of the process seeds the global generator and draws from it.
        new Trainer(disturbed, FashionMnistFixture.Tiny(), fx.Device, "t", 5, progress: p =>
        {
            manual_seed(1000 + p.Step);
            using var draw = rand(64);
        }).Train(data, norm);

        var expected = Snapshot(alone);
        foreach (var (name, tensor) in disturbed.state_dict())
            Assert.True(tensor.allclose(expected[name], rtol: 0, atol: 0),
                $"{name} differs when the global generator is disturbed");

        // And the masks are drawn at all: without dropout the same run ends elsewhere.
        manual_seed(3);
        using var plain = WithDropout(g, 0);
        new Trainer(plain, FashionMnistFixture.Tiny(), fx.Device, "t", 5).Train(data, norm);
        Assert.False(plain.state_dict()["classifier.weight"].allclose(expected["classifier.weight"]));
    }

    [Fact]
    public async Task A_seeded_build_gets_the_same_weights_while_other_threads_build_networks()
    {
        var g = fx.Space.Parse("k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip");
        Dictionary<string, Tensor> Build()
        {
            using var net = TorchRuntime.Seeded(7, () => SuperNet.Child(fx.Space, g));
            return Snapshot(net);
        }
        var expected = Build();
        using var stop = new CancellationTokenSource();
        // Unseeded builds elsewhere in the process (a stage loading a supernet file, a latency table) draw their
        // initial weights from the same global generator.
        var others = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested) SuperNet.Full(fx.Space, WeightSharing.Entangled).Dispose();
        });
        try
        {
            for (var i = 0; i < 40; i++)
                foreach (var (name, tensor) in Build())
                    Assert.True(tensor.allclose(expected[name], rtol: 0, atol: 0), $"build {i}: {name} differs");
        }
        finally
        {
            stop.Cancel();
            await others;
        }
    }

    [Fact]
    public void A_checkpoint_of_another_network_is_refused()
    {
        var data = Small(128);
        var norm = Normalization.Estimate(data);
        using var dir = new TempFolder();
        using var a = SuperNet.Child(fx.Space, fx.Space.Parse("k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip"));
        new Trainer(a, FashionMnistFixture.Tiny(), fx.Device, "t", 1, dir.Path).Train(data, norm);
        using var b = SuperNet.Child(fx.Space, fx.Space.Parse("k5e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip"));
        var e = Assert.Throws<InvalidDataException>(() =>
            new Trainer(b, FashionMnistFixture.Tiny(), fx.Device, "t", 1, dir.Path).Train(data, norm));
        Assert.Contains("network", e.Message);
    }

    [Fact]
    public void Supernet_training_leaves_candidates_off_every_path_untouched()
    {
        var data = Small(512);
        var norm = Normalization.Estimate(data);
        using var net = SuperNet.Vital(fx.Space);
        var counts = net.Options.Select(o => o.Count).ToArray();
        var before = Snapshot(net);
        // Never pick option 0 of any block: its weights must not move (no gradient, no weight decay, no momentum).
        new Trainer(net, FashionMnistFixture.Tiny(), fx.Device, "t", 1)
            .Train(data, norm, rng => counts.Select(c => c == 1 ? 0 : 1 + rng.NextInt(c - 1)).ToArray());
        var after = net.state_dict();
        var untouched = before.Keys.Where(k => k.Contains(".k3e1.") && k.EndsWith("weight")).ToArray();
        var trained = before.Keys.Where(k => k.Contains(".k3e3.") && k.EndsWith("weight")).ToArray();
        Assert.NotEmpty(untouched);
        Assert.All(untouched, k => Assert.True(after[k].allclose(before[k], rtol: 0, atol: 0), $"{k} changed"));
        Assert.Contains(trained, k => !after[k].allclose(before[k], rtol: 0, atol: 0));
    }

    [Fact]
    public void Strict_fairness_runs_every_option_of_every_block_once_per_step()
    {
        var data = Small(256);
        var norm = Normalization.Estimate(data);
        using var net = SuperNet.Vital(fx.Space);
        var widest = net.Options.Max(o => o.Count);
        Assert.True(widest > 1);
        var steps = 256 / 64;
        new Trainer(net, FashionMnistFixture.Tiny() with { StrictFairness = true }, fx.Device, "t", 1)
            .Train(data, norm, rng => net.Options.Select(o => rng.NextInt(o.Count)).ToArray());
        for (var b = 0; b < net.Blocks.Count; b++)
        {
            var (options, counts) = (net.Blocks[b].Options, net.Blocks[b].Steps!.data<double>().ToArray());
            // Every step ran the widest block's number of paths; a block with fewer options repeats some of them.
            Assert.Equal(steps * widest, counts.Sum());
            var candidates = fx.Space.Candidates[b].ToList();
            Assert.All(options, o => Assert.InRange(counts[candidates.IndexOf(o)],
                steps * (widest / options.Count), steps * ((widest + options.Count - 1) / options.Count)));
        }
    }

    [Fact]
    public void The_sandwich_rule_runs_the_largest_and_the_smallest_path_beside_two_sampled_ones_every_step()
    {
        var data = Small(256);
        var norm = Normalization.Estimate(data);
        using var net = SuperNet.Vital(fx.Space);
        var steps = 256 / 64;
        // The sampler always draws k5e3 where offered (skip elsewhere): neither the largest nor the smallest.
        var middle = net.Options.Select(o => Math.Max(0, o.ToList().IndexOf(new Operation(5, 3)))).ToArray();
        var result = new Trainer(net, FashionMnistFixture.Tiny() with { Sandwich = true }, fx.Device, "t", 1)
            .Train(data, norm, _ => middle);
        Assert.True(result.Loss is > 0 and < 10, $"loss {result.Loss}");
        var vital = 0;
        for (var b = 0; b < net.Blocks.Count; b++)
        {
            var (options, counts) = (net.Blocks[b].Options, net.Blocks[b].Steps!.data<double>().ToArray());
            var candidates = fx.Space.Candidates[b].ToList();
            double Count(Operation op) => counts[candidates.IndexOf(op)];
            Assert.Equal(4 * steps, counts.Sum());
            if (options.Count == 1) continue;
            vital++;
            var largest = options.Where(o => !o.IsSkip).MaxBy(o => (o.Expansion, o.Kernel));
            var smallest = options.Where(o => !o.IsSkip).MinBy(o => (o.Expansion, o.Kernel));
            Assert.Equal(steps, Count(largest));
            Assert.Equal(steps, Count(smallest));
            Assert.Equal(2 * steps, Count(new Operation(5, 3)));
        }
        Assert.True(vital > 0);
        Assert.Throws<ArgumentException>(() =>
            new TrainSettings(StrictFairness: true, Sandwich: true).Validate());
    }

    [Fact]
    public void Learning_rate_warms_up_then_decays_to_zero()
    {
        var s = new TrainSettings(LearningRate: 0.2, WarmupEpochs: 1);
        Assert.Equal(0.02, s.LearningRateAt(0, 100, 10), 10);
        Assert.Equal(0.2, s.LearningRateAt(9, 100, 10), 10);
        Assert.Equal(0.1, s.LearningRateAt(10 + 45, 100, 10), 10);
        Assert.Equal(0.0, s.LearningRateAt(100, 100, 10), 10);
    }

    [Fact]
    public void The_learning_rate_scales_linearly_with_the_batch_from_the_presets_reference_batch()
    {
        // The imagenet preset gives its rate for batch 256: at batch 16 the peak is 16/256 of it.
        var reference = Presets.Skeleton("imagenet").Recipe!.ReferenceBatchSize!.Value;
        Assert.Equal(256, reference);
        var small = new TrainSettings(BatchSize: 16, LearningRate: 0.1, WarmupEpochs: 1,
            ReferenceBatchSize: reference);
        Assert.Equal(0.00625, small.PeakLearningRate, 12);
        Assert.Equal(0.00625, small.LearningRateAt(9, 100, 10), 12);
        // At the reference batch (every other preset: 128 by default) the rate is as given.
        Assert.Equal(0.1, new TrainSettings(LearningRate: 0.1).PeakLearningRate, 12);
        Assert.Null(Presets.Skeleton("fashion-mnist").Recipe?.ReferenceBatchSize);
        Assert.Throws<ArgumentException>(() => new TrainSettings(ReferenceBatchSize: 0).Validate());
    }

    [Fact]
    public void Recalibration_makes_running_statistics_the_average_over_its_batches()
    {
        var data = Small(512);
        var norm = Normalization.Estimate(data);
        manual_seed(1);
        using var net = SuperNet.Vital(fx.Space);
        net.SetPath(net.Options.Select(o => o.Count - 1).ToArray());
        Evaluator.RecalibrateBatchNorm(net, data, norm, fx.Device, batches: 3, batchSize: 64, seed: 4);

        // The stem's BatchNorm sees the stem conv's output: average that conv's per-batch channel means by hand.
        var conv = (TorchSharp.Modules.Conv2d)net.named_modules().Single(m => m.name == "stem.conv").module;
        var bn = (Networks.BatchNorm)net.named_modules().Single(m => m.name == "stem.bn").module;
        using var _ = no_grad();
        var means = BatchLoader.Read(data, 64, norm, train: true, seed: 4).Take(3)
            .Select(b => conv.call(Tensors.Images(b, fx.Device, true)).mean([0, 2, 3])).ToArray();
        var expected = stack(means).mean([0]);
        Assert.True(bn.RunningMean.allclose(expected, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void Recalibration_with_no_batches_keeps_the_trained_statistics()
    {
        var data = Small(256);
        var norm = Normalization.Estimate(data);
        manual_seed(1);
        using var net = SuperNet.Vital(fx.Space);
        net.SetPath(net.Options.Select(o => o.Count - 1).ToArray());
        var bn = (Networks.BatchNorm)net.named_modules().Single(m => m.name == "stem.bn").module;
        using (no_grad()) bn.RunningMean.fill_(0.25);
        net.train();
        Evaluator.RecalibrateBatchNorm(net, data, norm, fx.Device, batches: 0, batchSize: 64, seed: 4);
        Assert.True(bn.RunningMean.eq(0.25).all().item<bool>(), "the running statistics were re-estimated");
        Assert.False(net.training);
    }

    [Fact]
    public void Evaluation_reports_top1_and_top5_on_every_image()
    {
        var data = Small(1024);
        var norm = Normalization.Estimate(data);
        manual_seed(1);
        using var net = SuperNet.Child(fx.Space, fx.Space.Parse("k3e1 | k3e3 skip skip | k3e3 skip skip | k3e3 skip"));
        new Trainer(net, FashionMnistFixture.Tiny(2) with { BatchSize = 32 }, fx.Device, "t", 1).Train(data, norm);
        var accuracy = Evaluator.Evaluate(net, ImageSources.Limit(fx.Data.Test, 500, 2), norm, fx.Device,
            batchSize: 64);
        Assert.Equal(500, accuracy.Images);
        Assert.InRange(accuracy.Top1, 0.4, 1.0); // 64 steps of a small net already learn well past chance (10%)
        Assert.True(accuracy.Top5 > accuracy.Top1);
        // The loss is the mean cross-entropy over the same 500 images in one batch: batching must not change it.
        var whole = Evaluator.Evaluate(net, ImageSources.Limit(fx.Data.Test, 500, 2), norm, fx.Device,
            batchSize: 500);
        Assert.InRange(accuracy.Loss, 0.05, Math.Log(10));
        Assert.Equal(whole.Loss, accuracy.Loss, 4);
        using (no_grad())
        {
            var batch = BatchLoader.Read(ImageSources.Limit(fx.Data.Test, 500, 2), 500, norm, train: false, seed: 0)
                .Single();
            using var logits = net.call(Tensors.Images(batch, fx.Device, true));
            using var ce = nn.functional.cross_entropy(logits, Tensors.Labels(batch, fx.Device));
            Assert.Equal(ce.item<float>(), accuracy.Loss, 4);
        }
    }
}
