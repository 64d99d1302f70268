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
/// the table's batch size, in inference mode (stem, head and classifier too); warm-up runs, then the median of
/// the repeats, divided by the batch size. The same inference path as <see cref="Evaluator.LatencyMilliseconds"/>.
/// </summary>
public static class LatencyProfiler
{
    public static LatencyTable Measure(ArchitectureSpace space, Device device, int batchSize = 1, int warmup = 10,
        int repeats = 50, Action<string>? log = null)
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
        return new LatencyTable(LatencyTable.CurrentFormat, s.Name, DateTime.UtcNow,
            new LatencyConditions(device.type.ToString().ToLowerInvariant(), batchSize, threads,
                Environment.MachineName, Environment.ProcessorCount, warmup, repeats),
            stemNs, headNs, classifierNs, blocks);
    }

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
            var genotype = measured.FromBlocks(measured.Candidates.Select(c => c[rng.NextInt(c.Count)]).ToArray());
            using var net = SuperNet.Child(measured, genotype);
            net.to(device);
            var ms = Evaluator.LatencyMilliseconds(net, measured.Skeleton, device, repeats, table.Conditions.BatchSize);
            checks.Add(new LatencyCheck(genotype.ToString(), measured.Costs.Of(genotype).Total.Milliseconds, ms));
        }
        var errors = checks.Select(c => Math.Abs(c.PredictedMilliseconds - c.MeasuredMilliseconds)
            / c.MeasuredMilliseconds).Order().ToArray();
        return new LatencyValidation(count, errors[errors.Length / 2], errors[^1],
            checks.Average(c => (c.PredictedMilliseconds - c.MeasuredMilliseconds) / c.MeasuredMilliseconds),
            checks);
    }

    private static double Median(nn.Module<Tensor, Tensor> module, long[] shape, Device device, int warmup,
        int repeats)
    {
        module.to(device);
        module.eval();
        using var _ = no_grad();
        using var x = randn(shape, device: device);
        for (var i = 0; i < warmup; i++) module.call(x).Dispose();
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            module.call(x).Dispose();
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            times[i] = clock.Elapsed.TotalNanoseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

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
