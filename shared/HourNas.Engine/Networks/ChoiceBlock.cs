using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// One block of a supernet: every candidate operation with its own weights (keyed by its name, e.g. "k5e6", so
/// the same block and operation have the same parameter names in every network built from the space); the
/// active option decides which one runs. <see cref="Operation.Skip"/> runs nothing (identity).
/// </summary>
public sealed class ChoiceBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<MBConv> ops;

    public ChoiceBlock(BlockSpec block, IReadOnlyList<Operation> options, BlockStyle style) : base(nameof(ChoiceBlock))
    {
        if (options.Count == 0) throw new ArgumentException($"block {block.Index} has no options", nameof(options));
        Options = options;
        ops = new ModuleDict<MBConv>();
        foreach (var op in options.Where(o => !o.IsSkip)) ops.Add(op.ToString(), new MBConv(block, op, style));
        RegisterComponents();
    }

    public IReadOnlyList<Operation> Options { get; }

    public int Active { get; set; }

    public Operation ActiveOperation => Options[Active];

    /// <summary>The module of the active option, or null for skip.</summary>
    public MBConv? ActiveModule => ActiveOperation.IsSkip ? null : ops[ActiveOperation.ToString()];

    public override Tensor forward(Tensor x) => ActiveModule is { } m ? m.call(x) : x.alias();
}
