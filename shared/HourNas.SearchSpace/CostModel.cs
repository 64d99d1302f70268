namespace HourNas.SearchSpace;

/// <summary>
/// Multiply-adds and trainable parameters. <see cref="Macs"/> counts the multiply-adds of every
/// convolution and fully connected layer (reported as FLOPs, the NAS convention); BatchNorm, activations,
/// pooling and the SE rescale are not counted. <see cref="Params"/> counts what PyTorch's parameters()
/// would: conv and FC weights, FC and SE biases, BatchNorm scale and shift. <see cref="LatencyNs"/> is the
/// measured latency per image from a latency table (0 when the cost model has none).
/// </summary>
public readonly record struct Cost(long Macs, long Params, long LatencyNs = 0)
{
    public static Cost Zero => default;

    public double MFlops => Macs / 1e6;

    public double MParams => Params / 1e6;

    public double Milliseconds => LatencyNs / 1e6;

    public static Cost operator +(Cost a, Cost b) =>
        new(a.Macs + b.Macs, a.Params + b.Params, a.LatencyNs + b.LatencyNs);

    public static Cost operator -(Cost a, Cost b) =>
        new(a.Macs - b.Macs, a.Params - b.Params, a.LatencyNs - b.LatencyNs);

    public override string ToString() =>
        $"{MFlops:F2} MFLOPs, {Params:N0} params" + (LatencyNs > 0 ? $", {Milliseconds:F2} ms" : "");
}

/// <summary>Cost of each part of a network, in order; <see cref="Total"/> is their sum.</summary>
public sealed record NetworkCost(Cost Stem, IReadOnlyList<Cost> Blocks, Cost Head, Cost Classifier)
{
    public Cost Total => Blocks.Aggregate(Stem + Head + Classifier, (sum, b) => sum + b);
}

/// <summary>Per-block and whole-network cost for one skeleton.</summary>
public sealed class CostModel
{
    private readonly Skeleton _skeleton;
    private readonly IReadOnlyList<BlockSpec> _blocks;

    public CostModel(Skeleton skeleton, LatencyTable? latencies = null)
    {
        _skeleton = skeleton;
        Latencies = latencies;
        _blocks = skeleton.LayoutBlocks();
        var stemSize = skeleton.StemOutputSize;
        Stem = Conv(skeleton.InputChannels, skeleton.Stem.Width, 3, stemSize) + BatchNorm(skeleton.Stem.Width);
        var finalSize = _blocks.Count > 0 ? _blocks[^1].OutputSize : stemSize;
        Head = Conv(skeleton.FinalWidth, skeleton.HeadWidth, 1, finalSize) + BatchNorm(skeleton.HeadWidth);
        Classifier = new Cost((long)skeleton.HeadWidth * skeleton.Classes,
            (long)skeleton.HeadWidth * skeleton.Classes + skeleton.Classes);
        if (latencies is null) return;
        // The stem also carries the calibration's constant (FixedNanoseconds sums them all).
        Stem = Stem with
        {
            LatencyNs = (long)Math.Round(latencies.StemNanoseconds + (latencies.Calibration?.ConstantNanoseconds ?? 0)),
        };
        Head = Head with { LatencyNs = (long)Math.Round(latencies.HeadNanoseconds) };
        Classifier = Classifier with { LatencyNs = (long)Math.Round(latencies.ClassifierNanoseconds) };
    }

    /// <summary>The measured latencies behind <see cref="Cost.LatencyNs"/>, or null (latency then 0).</summary>
    public LatencyTable? Latencies { get; }

    public Cost Stem { get; }

    public Cost Head { get; }

    public Cost Classifier { get; }

    /// <summary>Stem, head conv and classifier: what every architecture of the skeleton pays.</summary>
    public Cost Fixed => Stem + Head + Classifier;

    /// <summary>Width of the SE bottleneck for an MBConv with this input and expanded width.</summary>
    public static int SeWidth(SqueezeExcitation se, int inWidth, int midWidth)
    {
        var basis = se.Of == SeBasis.Input ? inWidth : midWidth;
        return Math.Max(1, (int)Math.Floor(basis * se.Ratio + 1e-9));
    }

    /// <summary>Whether this operation has a 1x1 expansion conv under the skeleton's style.</summary>
    public static bool HasExpansion(BlockStyle style, Operation op) =>
        !op.IsSkip && (op.Expansion != 1 || style.ExpandAtRatioOne);

    public Cost Block(int index, Operation op) => Block(_blocks[index], op);

    public Cost Block(BlockSpec block, Operation op)
    {
        if (op.IsSkip) return Cost.Zero;
        var style = _skeleton.Style;
        var mid = block.InWidth * op.Expansion;
        var cost = Cost.Zero;
        if (HasExpansion(style, op))
            cost += Conv(block.InWidth, mid, 1, block.InputSize) + BatchNorm(mid);
        cost += DepthwiseConv(mid, op.Kernel, block.OutputSize) + BatchNorm(mid);
        if (style.SqueezeExcitation is { } se)
        {
            var r = SeWidth(se, block.InWidth, mid);
            // Two 1x1 convs with bias on the pooled vector: mid -> r -> mid.
            cost += new Cost(2L * mid * r, (long)mid * r + r + (long)r * mid + mid);
        }
        cost += Conv(mid, block.OutWidth, 1, block.OutputSize) + BatchNorm(block.OutWidth);
        return Latencies is null ? cost : cost with { LatencyNs = Latencies.Of(block.Index, op) };
    }

    public NetworkCost Of(Genotype genotype)
    {
        var ops = genotype.Blocks;
        if (ops.Count != _blocks.Count)
            throw new SearchSpaceException(
                $"genotype has {ops.Count} blocks, skeleton '{_skeleton.Name}' has {_blocks.Count}");
        return new NetworkCost(Stem, _blocks.Select(b => Block(b, ops[b.Index])).ToArray(), Head, Classifier);
    }

    private static Cost Conv(int cin, int cout, int k, int outSize) =>
        new((long)cin * cout * k * k * outSize * outSize, (long)cin * cout * k * k);

    private static Cost DepthwiseConv(int channels, int k, int outSize) =>
        new((long)channels * k * k * outSize * outSize, (long)channels * k * k);

    private static Cost BatchNorm(int channels) => new(0, 2L * channels);
}
