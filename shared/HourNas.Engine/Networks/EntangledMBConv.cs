using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// The weight-entangled form of a block's MBConv candidates (the idea of Once-for-All and BigNAS): one set of
/// weights at the family's largest kernel and expansion; a candidate uses the centre kxk of every depthwise filter
/// and the first (in x e) expanded channels, so the weights every candidate shares train on every step that runs
/// any of them. A family is the candidates that have a 1x1 expansion under the block style (their depthwise conv
/// sees expanded features) or those that do not (e=1 without expansion: the depthwise sees the block's input);
/// the two see different inputs, so they do not share. With <c>normPerCandidate</c> the BatchNorms are not shared:
/// each candidate has its own (<see cref="CandidateNorms"/>), and only the convolutions are entangled.
/// </summary>
public sealed class EntangledMBConv : nn.Module<Tensor, Tensor>
{
    private readonly Parameter? expand_weight;
    private readonly BatchNorm? expand_bn;
    private readonly Parameter depthwise_weight;
    private readonly BatchNorm? depthwise_bn;
    private readonly Parameter? se_reduce_weight;
    private readonly Parameter? se_reduce_bias;
    private readonly Parameter? se_expand_weight;
    private readonly Parameter? se_expand_bias;
    private readonly Parameter project_weight;
    private readonly BatchNorm? project_bn;
    private readonly ModuleDict<CandidateNorms>? norms;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly BlockSpec _block;
    private readonly BlockStyle _style;
    private readonly int _maxKernel;

    /// <param name="family">The candidates sharing these weights (all with or all without expansion).</param>
    /// <param name="normPerCandidate">Each candidate normalises with BatchNorms of its own.</param>
    public EntangledMBConv(BlockSpec block, IReadOnlyList<Operation> family, BlockStyle style,
        bool normPerCandidate = false) : base(nameof(EntangledMBConv))
    {
        if (family.Count == 0 || family.Any(o => o.IsSkip))
            throw new ArgumentException("a family holds MBConv candidates only", nameof(family));
        Expanded = CostModel.HasExpansion(style, family[0]);
        if (family.Any(o => CostModel.HasExpansion(style, o) != Expanded))
            throw new ArgumentException("a family's candidates either all have an expansion conv or none has",
                nameof(family));
        _block = block;
        _style = style;
        _maxKernel = family.Max(o => o.Kernel);
        var maxMid = (long)block.InWidth * family.Max(o => o.Expansion);
        if (Expanded) expand_weight = Init(empty(maxMid, block.InWidth, 1, 1), block.InWidth);
        depthwise_weight = Init(empty(maxMid, 1, _maxKernel, _maxKernel), _maxKernel * _maxKernel);
        if (normPerCandidate)
        {
            norms = new ModuleDict<CandidateNorms>();
            foreach (var op in family)
                norms.Add(op.ToString(),
                    new CandidateNorms((long)block.InWidth * op.Expansion, block.OutWidth, Expanded));
        }
        else
        {
            if (Expanded) expand_bn = new BatchNorm(maxMid);
            depthwise_bn = new BatchNorm(maxMid);
            project_bn = new BatchNorm(block.OutWidth);
        }
        if (style.SqueezeExcitation is { } se)
        {
            var maxSe = family.Max(o => CostModel.SeWidth(se, block.InWidth, block.InWidth * o.Expansion));
            se_reduce_weight = Init(empty(maxSe, maxMid, 1, 1), maxMid);
            se_reduce_bias = new Parameter(zeros(maxSe));
            se_expand_weight = Init(empty(maxMid, maxSe, 1, 1), maxSe);
            se_expand_bias = new Parameter(zeros(maxMid));
        }
        project_weight = Init(empty(block.OutWidth, maxMid, 1, 1), maxMid);
        act = Layers.Activation(style.Activation);
        Family = family;
        Active = family[0];
        // Registered by hand, under the field names: the fields a style does not use stay null and unregistered.
        foreach (var (name, p) in new[]
                 {
                     (nameof(expand_weight), expand_weight), (nameof(depthwise_weight), depthwise_weight),
                     (nameof(se_reduce_weight), se_reduce_weight), (nameof(se_reduce_bias), se_reduce_bias),
                     (nameof(se_expand_weight), se_expand_weight), (nameof(se_expand_bias), se_expand_bias),
                     (nameof(project_weight), project_weight),
                 })
            if (p is not null) register_parameter(name, p);
        foreach (var (name, bn) in new[]
                 {
                     (nameof(expand_bn), expand_bn), (nameof(depthwise_bn), depthwise_bn),
                     (nameof(project_bn), project_bn),
                 })
            if (bn is not null) register_module(name, bn);
        if (norms is not null) register_module(nameof(norms), norms);
    }

    /// <summary>Whether this family's candidates have the 1x1 expansion conv.</summary>
    public bool Expanded { get; }

    public IReadOnlyList<Operation> Family { get; }

    /// <summary>Whether every candidate has BatchNorms of its own (else they share the family's).</summary>
    public bool NormPerCandidate => norms is not null;

    /// <summary>The candidate the next forward runs; one of <see cref="Family"/>.</summary>
    public Operation Active { get; set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var k = Active.Kernel;
        var mid = (long)_block.InWidth * Active.Expansion;
        // The active candidate's own norms, or the family's shared ones: chosen once, used alike below.
        var own = norms?[Active.ToString()];
        var (expandBn, depthwiseBn, projectBn) = own is null
            ? (expand_bn, depthwise_bn!, project_bn!)
            : (own.Expand, own.Depthwise, own.Project);
        var y = x;
        if (expand_weight is not null)
            y = act.call(expandBn!.Forward(nn.functional.conv2d(y, expand_weight.narrow(0, 0, mid)), mid));
        var offset = (_maxKernel - k) / 2;
        var dw = depthwise_weight.narrow(0, 0, mid).narrow(2, offset, k).narrow(3, offset, k);
        y = nn.functional.conv2d(y, dw, strides: [_block.Stride, _block.Stride], padding: [k / 2, k / 2], groups: mid);
        y = act.call(depthwiseBn.Forward(y, mid));
        if (_style.SqueezeExcitation is { } se)
        {
            var r = CostModel.SeWidth(se, _block.InWidth, (int)mid);
            var s = nn.functional.adaptive_avg_pool2d(y, 1);
            s = act.call(nn.functional.conv2d(s, se_reduce_weight!.narrow(0, 0, r).narrow(1, 0, mid),
                se_reduce_bias!.narrow(0, 0, r)));
            s = nn.functional.conv2d(s, se_expand_weight!.narrow(0, 0, mid).narrow(1, 0, r),
                se_expand_bias!.narrow(0, 0, mid)).sigmoid();
            y = y * s;
        }
        y = projectBn.Forward(nn.functional.conv2d(y, project_weight.narrow(1, 0, mid)), _block.OutWidth);
        if (_block.HasIdentityShortcut) y = y.add(x, One);
        return y.MoveToOuterDisposeScope();
    }

    // A held Scalar, for the reason MBConv gives.
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>Kaiming-uniform over the fan-in, as TorchSharp's Conv2d initialises its weights.</summary>
    private static Parameter Init(Tensor weight, long fanIn)
    {
        var bound = 1.0 / Math.Sqrt(fanIn);
        using (no_grad()) weight.uniform_(-bound, bound);
        return new Parameter(weight);
    }
}
