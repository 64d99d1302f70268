using System.Diagnostics;
using System.Globalization;
using HourNas.SearchSpace;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Where a training step's time goes, by layer kind: forward + backward of every conv and BatchNorm of the
/// network's layers at their real shapes (batch, channels-last as configured), timed one kind at a time.
/// </summary>
internal static class OpBreakdown
{
    public static string Run(ArchitectureSpace space, Genotype genotype, int batch, bool channelsLast, int repeats)
    {
        var totals = new Dictionary<string, double>();
        void Time(string kind, nn.Module<Tensor, Tensor> layer, long c, long size)
        {
            using var x = Input(batch, c, size, channelsLast);
            for (var i = 0; i < 3; i++) Pass(layer, x);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < repeats; i++) Pass(layer, x);
            totals[kind] = totals.GetValueOrDefault(kind) + 1000 * clock.Elapsed.TotalSeconds / repeats;
        }
        var s = space.Skeleton;
        Time("conv 3x3 (stem)", nn.Conv2d(s.InputChannels, s.Stem.Width, 3, s.Stem.Stride, 1, bias: false),
            s.InputChannels, s.InputSize);
        Time("batchnorm", new HourNas.Engine.Networks.BatchNorm(s.Stem.Width), s.Stem.Width, s.StemOutputSize);
        foreach (var b in space.Blocks)
        {
            var op = genotype.Blocks[b.Index];
            if (op.IsSkip) continue;
            long mid = b.InWidth * op.Expansion;
            if (CostModel.HasExpansion(s.Style, op))
            {
                Time("conv 1x1", nn.Conv2d(b.InWidth, mid, 1, bias: false), b.InWidth, b.InputSize);
                Time("batchnorm", new HourNas.Engine.Networks.BatchNorm(mid), mid, b.InputSize);
            }
            Time("depthwise conv", nn.Conv2d(mid, mid, op.Kernel, b.Stride, op.Kernel / 2, groups: mid, bias: false),
                mid, b.InputSize);
            Time("batchnorm", new HourNas.Engine.Networks.BatchNorm(mid), mid, b.OutputSize);
            Time("conv 1x1", nn.Conv2d(mid, b.OutWidth, 1, bias: false), mid, b.OutputSize);
            Time("batchnorm", new HourNas.Engine.Networks.BatchNorm(b.OutWidth), b.OutWidth, b.OutputSize);
        }
        Time("conv 1x1", nn.Conv2d(s.FinalWidth, s.HeadWidth, 1, bias: false), s.FinalWidth,
            space.Blocks[^1].OutputSize);
        Time("batchnorm", new HourNas.Engine.Networks.BatchNorm(s.HeadWidth), s.HeadWidth, space.Blocks[^1].OutputSize);
        var sum = totals.Values.Sum();
        return string.Join(" ", totals.OrderByDescending(kv => kv.Value).Select(kv =>
            string.Create(CultureInfo.InvariantCulture,
                $"{kv.Key.Replace(' ', '_')}_ms={kv.Value:F2}({100 * kv.Value / sum:F0}%)")));
    }

    private static Tensor Input(long n, long c, long size, bool channelsLast)
    {
        var x = randn(n, c, size, size);
        if (!channelsLast) return x.requires_grad_(true);
        var y = empty_strided([n, c, size, size], [c * size * size, 1, size * c, c]);
        y.copy_(x);
        x.Dispose();
        return y.requires_grad_(true);
    }

    private static void Pass(nn.Module<Tensor, Tensor> layer, Tensor x)
    {
        using var scope = NewDisposeScope();
        layer.zero_grad(true);
        x.grad?.zero_();
        layer.call(x).sum().backward();
    }
}
