namespace HourNas.SearchSpace;

/// <summary>
/// Stage 1's admissibility rule: a choice of the vital blocks (the neck) is admissible when at least
/// <see cref="MinBulbShare"/> of the bulbs' architectures still meet every limit of the budget with it, so stage 2
/// has a real search left. Decided by the neck's cost alone (every metric), counted once per distinct cost.
/// </summary>
public sealed class NeckAdmission
{
    private readonly Cost[][] _bulbCosts;
    private readonly Budget _budget;
    private readonly double _needed;
    private readonly Dictionary<Cost, bool> _verdicts = [];

    public NeckAdmission(ArchitectureSpace space, Budget budget, double minBulbShare)
    {
        _budget = budget;
        MinBulbShare = minBulbShare;
        _bulbCosts = space.NonVitalBlocks
            .Select(b => space.Candidates[b].Select(o => space.Costs.Block(b, o)).ToArray())
            .ToArray();
        var bulbSpace = _bulbCosts.Aggregate(1.0, (n, c) => n * c.Length);
        _needed = Math.Max(1, minBulbShare * bulbSpace);
    }

    public double MinBulbShare { get; }

    /// <summary>Whether a neck of this cost (stem, head and classifier included) leaves the bulbs enough.</summary>
    public bool Admits(Cost neck)
    {
        if (_verdicts.TryGetValue(neck, out var ok)) return ok;
        var (count, _, _) = SpaceShrinker.CountInWindow(_bulbCosts, neck, _budget, countWork: 2_000_000);
        return _verdicts[neck] = (double)count >= _needed;
    }
}
