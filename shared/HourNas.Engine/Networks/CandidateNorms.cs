using TorchSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// One candidate's own BatchNorms inside a weight-entangled family (switchable BatchNorm, as in Slimmable
/// Networks): sized at the candidate's expanded width, so a narrow or small-kernel candidate's statistics and
/// affine terms are not averaged with its family's others. Registered under the names
/// <see cref="EntangledMBConv"/> gives its shared ones, so a checkpoint names e.g.
/// <c>blocks.3.shared.expanded.norms.k5e3.depthwise_bn.weight</c>.
/// </summary>
public sealed class CandidateNorms : nn.Module
{
    private readonly BatchNorm? expand_bn;
    private readonly BatchNorm depthwise_bn;
    private readonly BatchNorm project_bn;

    public CandidateNorms(long mid, long outWidth, bool expanded) : base(nameof(CandidateNorms))
    {
        if (expanded) expand_bn = new BatchNorm(mid);
        depthwise_bn = new BatchNorm(mid);
        project_bn = new BatchNorm(outWidth);
        // By hand: without an expansion conv there is no expand_bn entry.
        if (expand_bn is not null) register_module(nameof(expand_bn), expand_bn);
        register_module(nameof(depthwise_bn), depthwise_bn);
        register_module(nameof(project_bn), project_bn);
    }

    public BatchNorm? Expand => expand_bn;

    public BatchNorm Depthwise => depthwise_bn;

    public BatchNorm Project => project_bn;
}
