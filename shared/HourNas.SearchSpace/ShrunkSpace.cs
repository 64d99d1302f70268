using System.Numerics;

namespace HourNas.SearchSpace;

/// <summary>A candidate of one block with its cost, and whether it survived shrinking (and if not, why).</summary>
public sealed record CandidateVerdict(Operation Op, Cost Cost, bool Kept, string? DroppedBecause);

/// <summary>
/// The shrinking verdicts of one block; a fixed block (its op already chosen) has one kept candidate.
/// </summary>
public sealed record BlockVerdicts(int Block, bool Vital, bool Fixed, IReadOnlyList<CandidateVerdict> Candidates)
{
    public IEnumerable<CandidateVerdict> Kept => Candidates.Where(c => c.Kept);
}

/// <summary>
/// The search space after shrinking to a budget: per block the affordable operations (<see cref="Allowed"/>),
/// the exact counts, and helpers that map an architecture encoded as one choice index per block
/// (index into <see cref="Allowed"/>) to its cost and genotype. Immutable.
/// </summary>
public sealed class ShrunkSpace
{
    private readonly Cost[][] _costs;

    internal ShrunkSpace(ArchitectureSpace space, Budget budget, IReadOnlyList<BlockVerdicts> verdicts,
        BigInteger spaceSize, BigInteger inWindow, bool countIsExact, IReadOnlyList<long> countUnits)
    {
        Space = space;
        Budget = budget;
        Verdicts = verdicts;
        Allowed = verdicts.Select(v => (IReadOnlyList<Operation>)v.Kept.Select(c => c.Op).ToArray()).ToArray();
        _costs = verdicts.Select(v => v.Kept.Select(c => c.Cost).ToArray()).ToArray();
        FixedCost = space.Costs.Fixed;
        FixedMacs = FixedCost.Macs;
        SpaceSize = spaceSize;
        ArchitecturesInWindow = inWindow;
        CountIsExact = countIsExact;
        CountUnits = countUnits.ToArray();
    }

    public ArchitectureSpace Space { get; }

    public Budget Budget { get; }

    public IReadOnlyList<BlockVerdicts> Verdicts { get; }

    /// <summary>Operations each block may still take (one for a fixed block).</summary>
    public IReadOnlyList<IReadOnlyList<Operation>> Allowed { get; }

    /// <summary>Stem, head and classifier multiply-adds.</summary>
    public long FixedMacs { get; }

    /// <summary>Stem, head and classifier in every metric.</summary>
    public Cost FixedCost { get; }

    /// <summary>Architectures before shrinking (fixed blocks count once).</summary>
    public BigInteger SpaceSize { get; }

    /// <summary>Architectures after pruning: the product of the kept counts.</summary>
    public BigInteger ShrunkSize => Allowed.Aggregate(BigInteger.One, (n, a) => n * a.Count);

    /// <summary>
    /// Architectures whose cost falls inside the budget window, counted by dynamic programming over cost.
    /// </summary>
    public BigInteger ArchitecturesInWindow { get; }

    /// <summary>
    /// True when the count used exact costs; otherwise costs were rounded to <see cref="CountResolutionMacs"/>.
    /// </summary>
    public bool CountIsExact { get; }

    /// <summary>The counting grid's unit per limit of the budget (in its order), in raw units of its metric.</summary>
    public IReadOnlyList<long> CountUnits { get; }

    /// <summary>How the count was made, for reports: "exact", or the grid of each limited metric.</summary>
    public string CountMethod => CountIsExact
        ? "exact count"
        : "count on a cost grid of " + string.Join(" x ", Budget.Limits.Select((l, i) =>
            $"{CountUnits[i]:N0} {(l.Metric == CostMetric.Flops ? "multiply-adds" : l.Metric == CostMetric.Params
                ? "parameters" : "ns")}"));

    /// <summary>Affordable architectures over all architectures of the space.</summary>
    public double ShrinkRatio => Ratio(ArchitecturesInWindow, SpaceSize);

    public long MinMacs => Min(CostMetric.Flops);

    public long MaxMacs => Max(CostMetric.Flops);

    /// <summary>
    /// The FLOPs window architectures here fall in: the budget's FLOPs limit, or without one the cheapest and
    /// dearest networks left after pruning. In MFLOPs, for reports.
    /// </summary>
    public (double Min, double Max) MFlopsWindow => Budget.LimitOn(CostMetric.Flops) is { } l
        ? (l.Min / 1e6, l.Max / 1e6)
        : (MinMacs / 1e6, MaxMacs / 1e6);

    /// <summary>The cheapest (dearest) network in one metric, each block at its own cheapest (dearest).</summary>
    public long Min(CostMetric metric) => FixedCost.Of(metric) + _costs.Sum(c => c.Min(x => x.Of(metric)));

    public long Max(CostMetric metric) => FixedCost.Of(metric) + _costs.Sum(c => c.Max(x => x.Of(metric)));

    public long BlockMacs(int block, int choice) => _costs[block][choice].Macs;

    public Cost BlockCost(int block, int choice) => _costs[block][choice];

    public Cost Cost(IReadOnlyList<int> choice)
    {
        var total = FixedCost;
        for (var b = 0; b < _costs.Length; b++) total += _costs[b][choice[b]];
        return total;
    }

    public long Macs(IReadOnlyList<int> choice) => Cost(choice).Macs;

    public bool InWindow(IReadOnlyList<int> choice) => Budget.Contains(Cost(choice));

    public Genotype ToGenotype(IReadOnlyList<int> choice) =>
        Space.FromBlocks(choice.Select((c, b) => Allowed[b][c]).ToArray());

    /// <summary>
    /// The choice indices of a genotype; throws naming the block when an operation is not allowed here.
    /// </summary>
    public int[] Encode(Genotype genotype)
    {
        Space.Validate(genotype);
        return genotype.Blocks.Select((op, b) =>
        {
            var i = Allowed[b] is IList<Operation> list ? list.IndexOf(op) : -1;
            return i >= 0 ? i : throw new SearchSpaceException(
                $"block {b}: '{op}' is not in the shrunk space (allowed: {string.Join(", ", Allowed[b])})");
        }).ToArray();
    }

    internal static double Ratio(BigInteger a, BigInteger b) =>
        a.IsZero || b.IsZero ? 0 : Math.Exp(BigInteger.Log(a) - BigInteger.Log(b));
}
