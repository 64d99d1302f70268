using System.Numerics;

namespace HourNas.SearchSpace;

/// <summary>
/// A skeleton seen as a search space: its blocks, which of them are vital (from the block graph), the
/// candidate operations of every block (non-vital blocks also get <see cref="Operation.Skip"/>, which is how
/// depth is searched) and the cost model.
/// </summary>
public sealed class ArchitectureSpace
{
    public ArchitectureSpace(Skeleton skeleton, LatencyTable? latencies = null)
    {
        Skeleton = skeleton.Validate();
        Blocks = skeleton.LayoutBlocks();
        Graph = BlockGraph.FromBlocks(Blocks);
        var vital = Graph.VitalBlocks().ToHashSet();
        IsVital = Blocks.Select(b => vital.Contains(b.Index)).ToArray();
        VitalBlocks = vital.Order().ToArray();
        NonVitalBlocks = Blocks.Where(b => !IsVital[b.Index]).Select(b => b.Index).ToArray();
        Candidates = Blocks
            .Select(b => (IReadOnlyList<Operation>)(IsVital[b.Index]
                ? b.StageCandidates.ToArray()
                : [.. b.StageCandidates, Operation.Skip]))
            .ToArray();
        Costs = new CostModel(skeleton, latencies?.Check(this));
    }

    /// <summary>The same space with a latency table behind its cost model (checked against it).</summary>
    public ArchitectureSpace WithLatencies(LatencyTable latencies) => new(Skeleton, latencies);

    public Skeleton Skeleton { get; }

    public IReadOnlyList<BlockSpec> Blocks { get; }

    public BlockGraph Graph { get; }

    public IReadOnlyList<bool> IsVital { get; }

    public IReadOnlyList<int> VitalBlocks { get; }

    public IReadOnlyList<int> NonVitalBlocks { get; }

    /// <summary>Candidate operations of each block (skip last, on non-vital blocks only).</summary>
    public IReadOnlyList<IReadOnlyList<Operation>> Candidates { get; }

    public CostModel Costs { get; }

    /// <summary>Number of architectures in the whole space: the product of the candidate counts.</summary>
    public BigInteger Size => Candidates.Aggregate(BigInteger.One, (n, c) => n * c.Count);

    /// <summary>Why a block is vital or not, in words, for reports.</summary>
    public string Reason(int block)
    {
        var b = Blocks[block];
        if (!IsVital[block]) return "identity shortcut: a path bypasses it";
        if (b.Stride != 1)
            return $"stride {b.Stride} ({b.InputSize}->{b.OutputSize}): no identity shortcut, every path passes it";
        if (b.InWidth != b.OutWidth)
            return $"width {b.InWidth}->{b.OutWidth}: no identity shortcut, every path passes it";
        return "no shortcut around it: every path passes it";
    }

    public Genotype Parse(string text) => Validate(Genotype.Parse(text));

    /// <summary>
    /// Checks block counts, vital skips and candidate membership; returns the genotype or throws naming the block.
    /// </summary>
    public Genotype Validate(Genotype genotype)
    {
        var stages = Skeleton.Stages;
        if (genotype.Stages.Count != stages.Count)
            throw new SearchSpaceException(
                $"genotype has {genotype.Stages.Count} stages, skeleton '{Skeleton.Name}' has {stages.Count} " +
                $"(blocks per stage: {string.Join(' ', stages.Select(s => s.MaxDepth))})");
        for (var s = 0; s < stages.Count; s++)
        {
            if (genotype.Stages[s].Count != stages[s].MaxDepth)
                throw new SearchSpaceException(
                    $"genotype stage {s + 1} has {genotype.Stages[s].Count} blocks, " +
                    $"skeleton '{Skeleton.Name}' has {stages[s].MaxDepth} there");
        }
        foreach (var b in Blocks)
        {
            var op = genotype.Blocks[b.Index];
            var where = $"block {b.Index} (stage {b.Stage + 1}, position {b.PositionInStage + 1})";
            if (op.IsSkip && IsVital[b.Index])
                throw new SearchSpaceException($"{where} is vital ({Reason(b.Index)}): 'skip' is not allowed there");
            if (!Candidates[b.Index].Contains(op))
                throw new SearchSpaceException(
                    $"{where}: '{op}' is not among its candidates {string.Join(", ", Candidates[b.Index])}");
        }
        return genotype;
    }

    /// <summary>Builds a genotype from one operation per block, grouped by the skeleton's stages.</summary>
    public Genotype FromBlocks(IReadOnlyList<Operation> ops)
    {
        if (ops.Count != Blocks.Count)
            throw new SearchSpaceException($"expected {Blocks.Count} operations, got {ops.Count}");
        return new Genotype(
            Skeleton.Stages.Select((_, s) => Blocks.Where(b => b.Stage == s).Select(b => ops[b.Index])));
    }

    /// <summary>The cheapest architecture: every block at its cheapest candidate.</summary>
    public Genotype Cheapest() =>
        FromBlocks(Blocks.Select(b => Candidates[b.Index].MinBy(o => Costs.Block(b, o).Macs)).ToArray());
}
