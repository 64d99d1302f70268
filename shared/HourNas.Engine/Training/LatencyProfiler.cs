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
/// Measures a latency table: each candidate operation of each block alone, at its block's real input shape and
/// the table's batch size, in inference mode (stem, head and classifier too); warm-up runs, then the least of three
/// medians of the repeats, divided by the batch size. Whole networks (calibration, validation) are measured the same
/// way, on the inference path of <see cref="Evaluator.LatencyMilliseconds"/>.
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
        double PerImage(nn.Module<Tensor, Tensor> module, long[] shape) =>
            Median(module, shape, device, warmup, repeats) / batchSize;

        using var stem = Layers.ConvBn(s.InputChannels, s.Stem.Width, 3, s.Stem.Stride, 1, s.Style.Activation);
        var stemNs = PerImage(stem, [batchSize, s.InputChannels, s.InputSize, s.InputSize]);
        var blocks = new List<BlockLatencies>();
        foreach (var b in space.Blocks)
        {
            var ops = new List<OperationLatency>();
            foreach (var op in space.Candidates[b.Index].Where(o => !o.IsSkip))
            {
                using var module = new MBConv(b, op, s.Style);
                ops.Add(new OperationLatency(op.ToString(),
                    PerImage(module, [batchSize, b.InWidth, b.InputSize, b.InputSize])));
            }
            blocks.Add(new BlockLatencies(b.Index, ops));
            log?.Invoke($"block {b.Index}: " +
                string.Join(", ", ops.Select(o => $"{o.Op} {o.Nanoseconds / 1e3:F1} us")));
        }
        var finalSize = space.Blocks.Count > 0 ? space.Blocks[^1].OutputSize : s.StemOutputSize;
        using var head = new HeadAndPool(s.FinalWidth, s.HeadWidth, s.Style.Activation);
        var headNs = PerImage(head, [batchSize, s.FinalWidth, finalSize, finalSize]);
        using var classifier = nn.Linear(s.HeadWidth, s.Classes);
        var classifierNs = PerImage(classifier, [batchSize, s.HeadWidth]);
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
        using var x = randn(shape, device: device);
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
