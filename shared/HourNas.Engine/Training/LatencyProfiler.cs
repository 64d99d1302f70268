using System.Diagnostics;
using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using TorchSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Training;

/// <summary>
/// How well a latency table's sum of parts predicts whole networks, measured on random architectures.
/// </summary>
public sealed record LatencyValidation(int Architectures, double MedianRelativeError, double WorstRelativeError,
    double MeanSignedRelativeError, IReadOnlyList<LatencyCheck> Checks);

public sealed record LatencyCheck(string Genotype, double PredictedMilliseconds, double MeasuredMilliseconds);

/// <summary>
/// Measures a latency table: each candidate operation of each block (stem, head and classifier too) timed inside
/// whole child networks at the table's batch size, in inference mode; warm-up runs, then the least of three medians
/// of the repeats, divided by the batch size. Whole networks (calibration, validation) are timed as the least of
/// three medians of repeated calls, on the inference path of <see cref="Evaluator.LatencyMilliseconds"/>.
/// </summary>
public static class LatencyProfiler
{
    /// <summary>
    /// Measures the table; with <paramref name="calibration"/> networks (random, seeded apart from any validation),
    /// also fits what whole networks cost beyond their parts (<see cref="LatencyCalibration"/>).
    /// </summary>
    public static LatencyTable Measure(ArchitectureSpace space, Device device, int batchSize = 1, int warmup = 10,
        int repeats = 50, Action<string>? log = null, int calibration = 0)
    {
        if (batchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {batchSize}");
        if (warmup < 0 || repeats < 1) throw new ArgumentException("warm-up must be >= 0 and repeats >= 1");
        var s = space.Skeleton;
        var (stemNs, opNs, headNs, classifierNs) = MeasureInContext(space, device, batchSize, warmup, repeats);
        var blocks = new List<BlockLatencies>();
        foreach (var b in space.Blocks)
        {
            var ops = space.Candidates[b.Index].Select((op, i) => (op, i)).Where(c => !c.op.IsSkip)
                .Select(c => new OperationLatency(c.op.ToString(), opNs[b.Index][c.i])).ToArray();
            blocks.Add(new BlockLatencies(b.Index, ops));
            log?.Invoke($"block {b.Index}: " +
                string.Join(", ", ops.Select(o => $"{o.Op} {o.Nanoseconds / 1e3:F1} us")));
        }
        var threads = torch.get_num_threads();
        var table = new LatencyTable(LatencyTable.CurrentFormat, s.Name, DateTime.UtcNow,
            new LatencyConditions(device.type.ToString().ToLowerInvariant(), batchSize, threads,
                Environment.MachineName, Environment.ProcessorCount, warmup, repeats),
            stemNs, headNs, classifierNs, blocks);
        return calibration > 0
            ? table with { Calibration = Calibrate(space, table, device, calibration, repeats) }
            : table;
    }

    /// <summary>
    /// Every part's nanoseconds per image, timed inside whole networks of the space: each pass runs a child
    /// network (the stem, one candidate per block, skip included, the head and the classifier) and times each part.
    /// The candidates rotate (a seeded offset per block), each network built afresh, run
    /// <see cref="UntimedPasses"/> times, then timed for <see cref="PassesPerNetwork"/> passes, until every
    /// candidate has <paramref name="repeats"/> timings. Timed alone, a block kept its weights and input in the
    /// core's cache, and the sum of parts came out 9-20% under whole cifar10 networks; one supernet holding every
    /// candidate instead came out 9% over whole fashion-mnist networks (docs/performance.md). Here a part sees the
    /// cache a deployed network leaves it. Three such rounds; per part, the least of the three medians.
    /// </summary>
    private static (double Stem, double[][] Ops, double Head, double Classifier) MeasureInContext(
        ArchitectureSpace space, Device device, int batchSize, int warmup, int repeats)
    {
        var s = space.Skeleton;
        var candidates = space.Candidates;
        using var stem = Layers.ConvBn(s.InputChannels, s.Stem.Width, 3, s.Stem.Stride, 1, s.Style.Activation);
        using var head = new HeadAndPool(s.FinalWidth, s.HeadWidth, s.Style.Activation);
        using var classifier = nn.Linear(s.HeadWidth, s.Classes);
        foreach (var m in new nn.Module[] { stem, head, classifier })
        {
            m.to(device);
            m.eval();
        }
        var rng = new Rng(Rng.Derive(0x1A7, (ulong)space.Blocks.Count));
        var offsets = space.Blocks.Select(b => rng.NextInt(candidates[b.Index].Count)).ToArray();
        var widest = space.Blocks.Count > 0 ? candidates.Max(c => c.Count) : 1;
        var networks = widest * ((repeats + PassesPerNetwork - 1) / PassesPerNetwork);
        var synchronize = device.type == DeviceType.CUDA;
        using var _ = no_grad();
        using var x = TorchRuntime.TimingInput([batchSize, s.InputChannels, s.InputSize, s.InputSize], device);
        // Part 0 is the stem, 1..n the blocks (one entry per candidate), then the head and the classifier.
        var parts = space.Blocks.Count + 3;
        var best = Enumerable.Range(0, parts).Select(p => Enumerable.Repeat(double.PositiveInfinity,
            p > 0 && p < parts - 2 ? candidates[p - 1].Count : 1).ToArray()).ToArray();
        var timings = best.Select(p => p.Select(_ => new List<double>()).ToArray()).ToArray();
        // Builds the n-th network of the rotation and runs it: untimed passes, then timed ones into the timings.
        void Run(int n, int untimed, int timed)
        {
            var chosen = space.Blocks.Select(b => (n + offsets[b.Index]) % candidates[b.Index].Count).ToArray();
            var blocks = space.Blocks.Select(b => new ChoiceBlock(b, [candidates[b.Index][chosen[b.Index]]],
                candidates[b.Index], s.Style, WeightSharing.Independent, countSteps: false)).ToArray();
            nn.Module<Tensor, Tensor>[] chain = [stem, .. blocks, head, classifier];
            foreach (var block in blocks)
            {
                block.to(device);
                block.eval();
            }
            for (var pass = 0; pass < untimed + timed; pass++)
            {
                using var scope = NewDisposeScope();
                var y = x;
                for (var p = 0; p < chain.Length; p++)
                {
                    var start = Stopwatch.GetTimestamp();
                    y = chain[p].call(y);
                    if (synchronize) cuda.synchronize();
                    if (pass < untimed) continue;
                    var option = p > 0 && p < parts - 2 ? chosen[p - 1] : 0;
                    timings[p][option].Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds);
                }
            }
            foreach (var block in blocks) block.Dispose();
        }

        Run(0, Math.Max(1, warmup), 0);
        for (var round = 0; round < 3; round++)
        {
            foreach (var list in timings.SelectMany(t => t)) list.Clear();
            for (var n = 0; n < networks; n++) Run(n, UntimedPasses, PassesPerNetwork);
            for (var p = 0; p < parts; p++)
                for (var o = 0; o < best[p].Length; o++)
                    if (timings[p][o].Count > 0) best[p][o] = Math.Min(best[p][o], Median(timings[p][o]));
        }
        double PerImage(double ns) => ns / batchSize;
        return (PerImage(best[0][0]), best[1..^2].Select(o => o.Select(PerImage).ToArray()).ToArray(),
            PerImage(best[^2][0]), PerImage(best[^1][0]));
    }

    /// <summary>Untimed passes of each freshly built network: its weights reach the cache as in deployment.</summary>
    private const int UntimedPasses = 2;

    /// <summary>Timed passes per network of the in-context measurement, after the untimed ones.</summary>
    private const int PassesPerNetwork = 5;

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    /// <summary>
    /// Least squares of (measured - sum of parts) against the number of blocks that run, over random networks:
    /// the intercept is a constant, the slope an overhead per running block (at least 0).
    /// </summary>
    private static LatencyCalibration Calibrate(ArchitectureSpace space, LatencyTable table, Device device,
        int networks, int repeats)
    {
        var measured = space.WithLatencies(table);
        var rng = new Rng(Rng.Derive(0xCA1, 1));
        var points = new List<(double Blocks, double Residual)>();
        for (var i = 0; i < networks; i++)
        {
            var genotype = RandomGenotype(measured, rng);
            using var net = SuperNet.Child(measured, genotype);
            var ms = NetworkMilliseconds(net, measured.Skeleton, device, table.Conditions.BatchSize, repeats);
            points.Add((genotype.Blocks.Count(o => !o.IsSkip),
                ms * 1e6 - measured.Costs.Of(genotype).Total.LatencyNs));
        }
        var (mx, my) = (points.Average(p => p.Blocks), points.Average(p => p.Residual));
        var sxx = points.Sum(p => (p.Blocks - mx) * (p.Blocks - mx));
        var slope = sxx > 0 ? Math.Max(0, points.Sum(p => (p.Blocks - mx) * (p.Residual - my)) / sxx) : 0;
        // With no spread in depth (every block vital) the residual is all per-block overhead.
        if (sxx == 0) slope = Math.Max(0, my / Math.Max(1, mx));
        return new LatencyCalibration(networks, my - slope * mx, slope);
    }

    private static Genotype RandomGenotype(ArchitectureSpace space, Rng rng) =>
        space.FromBlocks(space.Candidates.Select(c => c[rng.NextInt(c.Count)]).ToArray());

    /// <summary>
    /// Predicted (the table's sum) against measured latency of whole networks: <paramref name="count"/>
    /// architectures drawn uniformly from the space (seeded), each measured as the retraining result measures it.
    /// </summary>
    public static LatencyValidation Validate(ArchitectureSpace measured, Device device, int count, ulong seed,
        int repeats = 50)
    {
        var table = measured.Costs.Latencies
            ?? throw new ArgumentException("the space has no latency table to validate", nameof(measured));
        var rng = new Rng(seed);
        var checks = new List<LatencyCheck>();
        for (var i = 0; i < count; i++)
        {
            var genotype = RandomGenotype(measured, rng);
            using var net = SuperNet.Child(measured, genotype);
            var ms = NetworkMilliseconds(net, measured.Skeleton, device, table.Conditions.BatchSize, repeats);
            checks.Add(new LatencyCheck(genotype.ToString(), measured.Costs.Of(genotype).Total.Milliseconds, ms));
        }
        var errors = checks.Select(c => Math.Abs(c.PredictedMilliseconds - c.MeasuredMilliseconds)
            / c.MeasuredMilliseconds).Order().ToArray();
        return new LatencyValidation(count, errors[errors.Length / 2], errors[^1],
            checks.Average(c => (c.PredictedMilliseconds - c.MeasuredMilliseconds) / c.MeasuredMilliseconds),
            checks);
    }

    /// <summary>
    /// Nanoseconds of one call: the least of three medians of <paramref name="repeats"/> timed calls, after the
    /// warm-up. One median alone moved by 30% between networks of the same cost here (another process, the
    /// allocator); the least of three is what the module costs when nothing else interferes.
    /// </summary>
    private static double Median(nn.Module<Tensor, Tensor> module, long[] shape, Device device, int warmup,
        int repeats)
    {
        module.to(device);
        module.eval();
        using var _ = no_grad();
        using var x = TorchRuntime.TimingInput(shape, device);
        for (var i = 0; i < warmup; i++) module.call(x).Dispose();
        var best = double.PositiveInfinity;
        var times = new double[repeats];
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < repeats; i++)
            {
                var clock = Stopwatch.StartNew();
                module.call(x).Dispose();
                if (device.type == DeviceType.CUDA) cuda.synchronize();
                times[i] = clock.Elapsed.TotalNanoseconds;
            }
            Array.Sort(times);
            best = Math.Min(best, times[repeats / 2]);
        }
        return best;
    }

    /// <summary>A whole network's milliseconds per image, measured as its parts are.</summary>
    private static double NetworkMilliseconds(SuperNet net, Skeleton skeleton, Device device, int batchSize,
        int repeats) =>
        Median(net, [batchSize, skeleton.InputChannels, skeleton.InputSize, skeleton.InputSize], device, 10, repeats)
        / batchSize / 1e6;

    /// <summary>The head conv and the global pooling, as the network runs them before the classifier.</summary>
    private sealed class HeadAndPool : nn.Module<Tensor, Tensor>
    {
        // Measured with random weights and never saved, so the state-dict name does not matter.
        private readonly nn.Module<Tensor, Tensor> _conv;

        public HeadAndPool(int cin, int cout, Activation activation) : base(nameof(HeadAndPool))
        {
            _conv = Layers.ConvBn(cin, cout, 1, 1, 1, activation);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var y = _conv.call(x);
            return nn.functional.adaptive_avg_pool2d(y, 1).flatten(1);
        }
    }
}
