using System.Numerics;

namespace HourNas.SearchSpace;

/// <summary>
/// Space proposal for the bulbs (METHOD.md): with some blocks fixed (the vital choices of stage 1), drop
/// every candidate that cannot appear in any architecture inside the budget window, and count the
/// architectures inside the window by dynamic programming over cost.
/// </summary>
public static class SpaceShrinker
{
    /// <summary>
    /// Upper bound on cells x candidate transitions of the counting DP; past it costs are rounded to a grid
    /// (the count then is exact on the grid, each architecture's cost off by at most blocks x resolution / 2).
    /// 6e7 keeps the ImageNet space well under a second.
    /// </summary>
    public const long DefaultCountWork = 60_000_000;

    public static ShrunkSpace Shrink(ArchitectureSpace space, Budget budget,
        IReadOnlyDictionary<int, Operation>? fixedOps = null, long countWork = DefaultCountWork)
    {
        fixedOps ??= new Dictionary<int, Operation>();
        foreach (var (block, op) in fixedOps)
        {
            if (block < 0 || block >= space.Blocks.Count)
                throw new SearchSpaceException(
                    $"fixed block {block} does not exist: " +
                    $"'{space.Skeleton.Name}' has blocks 0..{space.Blocks.Count - 1}");
            if (!space.Candidates[block].Contains(op))
                throw new SearchSpaceException(
                    $"fixed block {block}: '{op}' is not among its candidates " +
                    $"{string.Join(", ", space.Candidates[block])}");
        }

        var costs = space.Costs;
        // Per block, the operations still in play (a fixed block has one) and their costs.
        var options = space.Blocks.Select(b => fixedOps.TryGetValue(b.Index, out var op)
                ? [(op, costs.Block(b, op))]
                : space.Candidates[b.Index].Select(o => (Op: o, Cost: costs.Block(b, o))).ToArray())
            .ToArray();
        var fixedMacs = costs.Fixed.Macs;
        var minSum = fixedMacs + options.Sum(o => o.Min(x => x.Item2.Macs));
        var maxSum = fixedMacs + options.Sum(o => o.Max(x => x.Item2.Macs));
        var fixedText = fixedOps.Count > 0 ? " with the fixed choices" : "";
        if (minSum > budget.MaxMacs)
            throw new SearchSpaceException(
                $"impossible budget: {budget.MaxMFlops:F2} MFLOPs is below the cheapest architecture of " +
                $"'{space.Skeleton.Name}'{fixedText}, which costs {minSum / 1e6:F2} MFLOPs");
        if (maxSum < budget.MinMacs)
            throw new SearchSpaceException(
                $"impossible budget window {budget}: the most expensive architecture of " +
                $"'{space.Skeleton.Name}'{fixedText} costs {maxSum / 1e6:F2} MFLOPs; " +
                "lower the budget or its minimum fraction");

        var verdicts = new BlockVerdicts[options.Length];
        for (var b = 0; b < options.Length; b++)
        {
            var ownMin = options[b].Min(x => x.Item2.Macs);
            var ownMax = options[b].Max(x => x.Item2.Macs);
            verdicts[b] = new BlockVerdicts(b, space.IsVital[b], fixedOps.ContainsKey(b), options[b].Select(x =>
            {
                var cheapest = minSum - ownMin + x.Item2.Macs;
                var dearest = maxSum - ownMax + x.Item2.Macs;
                string? why = cheapest > budget.MaxMacs
                    ? "with every other block at its cheapest the network costs " +
                        $"{cheapest / 1e6:F2} > {budget.MaxMFlops:F2} MFLOPs"
                    : dearest < budget.MinMacs
                        ? "with every other block at its dearest the network costs " +
                            $"{dearest / 1e6:F2} < {budget.MinMFlops:F2} MFLOPs"
                        : null;
                return new CandidateVerdict(x.Item1, x.Item2, why is null, why);
            }).ToArray());
        }

        var spaceSize = options.Aggregate(BigInteger.One, (n, o) => n * o.Length);
        var kept = verdicts.Select(v => v.Kept.Select(c => c.Cost.Macs).ToArray()).ToArray();
        var (count, exact, resolution) = CountInWindow(kept, fixedMacs, budget, countWork);
        return new ShrunkSpace(space, budget, verdicts, spaceSize, count, exact, resolution);
    }

    /// <summary>
    /// Number of ways to pick one cost per block so that fixed + sum lies in the window. Costs are shifted so
    /// each block's cheapest is 0; the DP runs over the remaining room in units of the gcd of all costs when
    /// that grid is small enough (exact), else in the finest unit the work limit allows (costs rounded).
    /// </summary>
    public static (BigInteger Count, bool Exact, long Resolution) CountInWindow(
        IReadOnlyList<long[]> blockCosts, long fixedMacs, Budget budget, long countWork = DefaultCountWork)
    {
        var baseMacs = fixedMacs + blockCosts.Sum(c => c.Min());
        var room = budget.MaxMacs - baseMacs;
        if (room < 0) return (BigInteger.Zero, true, 1);
        var residuals = blockCosts.Select(c => c.Select(x => x - c.Min()).ToArray()).ToArray();
        if (residuals.Aggregate(BigInteger.One, (n, r) => n * r.Length) > (BigInteger)UInt128.MaxValue)
            throw new SearchSpaceException("the space has more than 2^128 architectures: too large to count");
        var transitions = Math.Max(1, residuals.Sum(r => (long)r.Length));

        var gcd = residuals.SelectMany(r => r).Where(x => x > 0).Aggregate(0L, Gcd);
        var unit = gcd == 0 ? 1 : gcd;
        var exact = true;
        if ((room / unit + 1) * transitions > countWork)
        {
            unit = Math.Max(unit, (long)Math.Ceiling((double)room * transitions / countWork));
            exact = gcd > 0 && unit % gcd == 0 && residuals.SelectMany(r => r).All(x => x % unit == 0);
        }

        var cells = (int)(room / unit) + 1;
        var low = budget.MinMacs - baseMacs;
        var firstCell = low <= 0 ? 0 : (int)Math.Min(cells, (low + unit - 1) / unit);
        var steps = residuals
            .Select(r => r.Select(x => (int)Math.Min(cells, (long)Math.Round((double)x / unit))).ToArray())
            .ToArray();

        var ways = new UInt128[cells];
        var next = new UInt128[cells];
        ways[0] = 1;
        var reach = 0; // highest cell that may be non-zero so far
        foreach (var step in steps)
        {
            Array.Clear(next);
            var newReach = Math.Min(cells - 1, reach + step.Max());
            foreach (var s in step)
            {
                var top = Math.Min(reach, cells - 1 - s);
                for (var i = 0; i <= top; i++) next[i + s] += ways[i];
            }
            (ways, next) = (next, ways);
            reach = newReach;
        }

        UInt128 total = 0;
        for (var i = firstCell; i < cells; i++) total += ways[i];
        return ((BigInteger)total, exact, unit);
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
