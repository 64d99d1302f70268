using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// One block of a network: its options (candidate operations) and the one that runs. With independent weights each
/// option has an <see cref="MBConv"/> of its own, keyed by its name (e.g. "k5e6", so the same block and operation
/// have the same parameter names in every network built from the space); with entangled weights the options share
/// an <see cref="EntangledMBConv"/> per family, sized by the block's candidates in the whole space (not by the
/// options given), so every entangled network of a space has the same parameter shapes and inherits from any other;
/// with <c>normPerCandidate</c> each entangled candidate also has BatchNorms of its own; with <c>kernelsApart</c>
/// a family is also split by kernel size, so a candidate shares channel prefixes only with the candidates of its own
/// kernel, and a 7x7 filter does not start from the trained centre a 3x3 left it.
/// <see cref="Operation.Skip"/> runs nothing (identity). A supernet's block also counts the training steps of every
/// candidate (buffer <c>steps</c>, indexed like the space's candidates), so a saved supernet knows which of its
/// candidates it can score.
/// </summary>
public sealed class ChoiceBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<MBConv>? ops;
    private readonly ModuleDict<EntangledMBConv>? shared;
    private readonly Tensor? steps;
    private readonly int[] _candidateIndex;
    private readonly IReadOnlyList<Operation> _candidates;

    public ChoiceBlock(BlockSpec block, IReadOnlyList<Operation> options, IReadOnlyList<Operation> spaceCandidates,
        BlockStyle style, WeightSharing sharing, bool countSteps, bool normPerCandidate = false,
        bool kernelsApart = false)
        : base(nameof(ChoiceBlock))
    {
        if (options.Count == 0) throw new ArgumentException($"block {block.Index} has no options", nameof(options));
        Options = options;
        Sharing = sharing;
        NormPerCandidate = normPerCandidate && sharing != WeightSharing.Independent;
        KernelsApart = kernelsApart && sharing != WeightSharing.Independent;
        Style = style;
        _candidates = spaceCandidates;
        _candidateIndex = options.Select(o => IndexOf(spaceCandidates, o)).ToArray();
        if (_candidateIndex.Any(i => i < 0))
            throw new ArgumentException(
                $"block {block.Index}: options {string.Join(", ", options)} are not all candidates of the space");
        if (sharing == WeightSharing.Independent)
        {
            ops = new ModuleDict<MBConv>();
            foreach (var op in options.Where(o => !o.IsSkip)) ops.Add(op.ToString(), new MBConv(block, op, style));
        }
        else
        {
            shared = new ModuleDict<EntangledMBConv>();
            // Families in a fixed order (the space's candidates'), each built when one of the options is in it.
            foreach (var name in spaceCandidates.Where(o => !o.IsSkip).Select(FamilyOf).Distinct())
            {
                if (!options.Any(o => !o.IsSkip && FamilyOf(o) == name)) continue;
                var family = spaceCandidates.Where(o => !o.IsSkip && FamilyOf(o) == name).ToArray();
                shared.Add(name, new EntangledMBConv(block, family, style, NormPerCandidate));
            }
        }
        if (countSteps) steps = zeros(spaceCandidates.Count, dtype: ScalarType.Float64);
        // Registered by hand: a field left null must not become an entry.
        if (ops is not null) register_module(nameof(ops), ops);
        if (shared is not null) register_module(nameof(shared), shared);
        if (steps is not null) register_buffer(nameof(steps), steps);
    }

    public IReadOnlyList<Operation> Options { get; }

    public WeightSharing Sharing { get; }

    /// <summary>Whether each entangled candidate has BatchNorms of its own (never with independent weights).</summary>
    public bool NormPerCandidate { get; }

    /// <summary>Whether each kernel size's entangled candidates hold weights apart from the other kernels'.</summary>
    public bool KernelsApart { get; }

    public BlockStyle Style { get; }

    /// <summary>
    /// Why this block cannot run <paramref name="op"/> with trained weights, or null when it can: it holds no
    /// weights for it, or (where steps were counted) no training step reached them. With entangled weights an
    /// operation is trained when a trained candidate of its family has at least its kernel and expansion: exactly
    /// then every weight it slices was updated; with per-candidate BatchNorms it must have trained itself, since
    /// its own norms train only on its steps.
    /// </summary>
    public string? WhyUntrained(Operation op)
    {
        if (IndexOf(Options, op) < 0)
            return $"this supernet holds no weights for '{op}' (it holds {string.Join(", ", Options)})";
        if (op.IsSkip || steps is null) return null;
        var counts = steps.data<double>().ToArray();
        var trained = _candidates.Where((c, i) => counts[i] > 0 && !c.IsSkip).ToArray();
        var covered = Sharing == WeightSharing.Independent || NormPerCandidate
            ? trained.Contains(op)
            : trained.Any(c => FamilyOf(c) == FamilyOf(op) && c.Kernel >= op.Kernel && c.Expansion >= op.Expansion);
        var trainedList = trained.Length == 0 ? "none" : string.Join(", ", trained);
        return covered ? null : $"'{op}' was never trained in this supernet (trained: {trainedList})";
    }

    public int Active { get; set; }

    public Operation ActiveOperation => Options[Active];

    /// <summary>
    /// The module of the active option with independent weights, or null for skip (and for entangled weights).
    /// </summary>
    public MBConv? ActiveModule => ops is not null && !ActiveOperation.IsSkip ? ops[ActiveOperation.ToString()] : null;

    /// <summary>
    /// Parameters the active option trains: its own module's, or the whole of its entangled family's.
    /// </summary>
    public IEnumerable<Parameter> ActiveParameters() =>
        ActiveOperation.IsSkip ? [] : ActiveModule?.parameters() ?? ActiveFamily()!.parameters();

    /// <summary>Training steps per candidate of the space (null when this block does not count them).</summary>
    public Tensor? Steps => steps;

    /// <summary>Counts one training step of the active option.</summary>
    public void CountStep()
    {
        if (steps is null) return;
        using var _ = no_grad();
        using var one = steps[_candidateIndex[Active]];
        one.add_(1.0);
    }

    /// <summary>
    /// The state-dict name, under "shared.", of the family of entangled weights an MBConv candidate runs on: "expanded"
    /// (with the 1x1 expansion conv) or "plain", and with the kernels apart one per kernel size ("expanded_k5").
    /// </summary>
    public static string FamilyName(BlockStyle style, Operation op, bool kernelsApart) =>
        (CostModel.HasExpansion(style, op) ? "expanded" : "plain") + (kernelsApart ? $"_k{op.Kernel}" : "");

    public override Tensor forward(Tensor x)
    {
        if (ActiveOperation.IsSkip) return x.alias();
        if (ActiveModule is { } m) return m.call(x);
        var family = ActiveFamily()!;
        family.Active = ActiveOperation;
        return family.call(x);
    }

    private EntangledMBConv? ActiveFamily() => shared?[FamilyOf(ActiveOperation)];

    /// <summary>The name of the family of entangled weights an MBConv candidate runs on in this block.</summary>
    private string FamilyOf(Operation op) => FamilyName(Style, op, KernelsApart);

    internal static int IndexOf(IReadOnlyList<Operation> options, Operation op)
    {
        for (var i = 0; i < options.Count; i++) if (options[i] == op) return i;
        return -1;
    }
}
