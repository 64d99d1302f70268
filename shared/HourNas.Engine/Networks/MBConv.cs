using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// Inverted residual block: 1x1 expansion (omitted at e=1 unless the block style keeps it, exactly as the cost
/// model counts), depthwise kxk with the block's stride, optional SE, 1x1 projection; identity shortcut when the
/// block keeps resolution and width.
/// </summary>
public sealed class MBConv : nn.Module<Tensor, Tensor>
{
    private readonly Sequential? expand;
    private readonly Sequential depthwise;
    private readonly SqueezeExcite? se;
    private readonly Sequential project;
    private readonly bool residual;
    private readonly long outWidth;
    private readonly long stride;

    public MBConv(BlockSpec block, Operation op, BlockStyle style) : base(nameof(MBConv))
    {
        if (op.IsSkip) throw new ArgumentException("skip has no module", nameof(op));
        var mid = (long)block.InWidth * op.Expansion;
        if (CostModel.HasExpansion(style, op)) expand = Layers.ConvBn(block.InWidth, mid, 1, 1, 1, style.Activation);
        depthwise = Layers.ConvBn(mid, mid, op.Kernel, block.Stride, mid, style.Activation);
        if (style.SqueezeExcitation is { } seSpec)
            se = new SqueezeExcite(mid, CostModel.SeWidth(seSpec, block.InWidth, (int)mid), style.Activation);
        project = Layers.ConvBn(mid, block.OutWidth, 1, 1, 1, null);
        residual = block.HasIdentityShortcut;
        outWidth = block.OutWidth;
        stride = block.Stride;
        RegisterComponents();
    }

    /// <summary>When set, the residual branch is zeroed (ablation): a shortcut block passes its input through,
    /// a block without a shortcut outputs zeros.</summary>
    public bool Ablated { get; set; }

    private static readonly Scalar One = 1.ToScalar();

    public override Tensor forward(Tensor x)
    {
        if (Ablated)
            return residual
                ? x.alias()
                : zeros(x.shape[0], outWidth, (x.shape[2] + stride - 1) / stride, (x.shape[3] + stride - 1) / stride,
                    dtype: x.dtype, device: x.device);
        using var scope = NewDisposeScope();
        var y = expand is null ? x : expand.call(x);
        y = depthwise.call(y);
        if (se is not null) y = se.call(y);
        y = project.call(y);
        // A held Scalar: TorchSharp 0.107's 'y + x' makes a temporary Scalar(1) that the GC can finalize during the
        // native add, which then fails with "Expected false to be true" in toFloat (seen in a 25-minute benchmark).
        if (residual) y = y.add(x, One);
        return y.MoveToOuterDisposeScope();
    }
}
