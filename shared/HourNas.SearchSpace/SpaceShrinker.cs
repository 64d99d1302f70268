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
                ? [(Op: op, Cost: costs.Block(b, op))]
                : space.Candidates[b.Index].Select(o => (Op: o, Cost: costs.Block(b, o))).ToArray())
            .ToArray();
        var fixedCost = costs.Fixed;
        var fixedText = fixedOps.Count > 0 ? " with the fixed choices" : "";
        RequireMeasured(space, budget);
        long Sum(CostMetric m, Func<IEnumerable<long>, long> pick) =>
            fixedCost.Of(m) + options.Sum(o => pick(o.Select(x => x.Cost.Of(m))));
        var cheapestSum = budget.Limits.ToDictionary(l => l.Metric, l => Sum(l.Metric, v => v.Min()));
        var dearestSum = budget.Limits.ToDictionary(l => l.Metric, l => Sum(l.Metric, v => v.Max()));
        string Cheapest() => string.Join(", ", budget.Limits.Select(l => CostMetrics.Format(l.Metric,
            Sum(l.Metric, v => v.Min()))));
        foreach (var l in budget.Limits)
        {
            if (Sum(l.Metric, v => v.Min()) > l.Max)
                throw new SearchSpaceException(
                    $"impossible budget {budget}: the cheapest architecture of '{space.Skeleton.Name}'{fixedText} " +
                    $"costs {Cheapest()}" + (budget.Limits.Count > 1 ? " (each dimension at its own cheapest)" : "") +
                    $"; {CostMetrics.Format(l.Metric, l.Max)} is below that");
            if (Sum(l.Metric, v => v.Max()) < l.Min)
                throw new SearchSpaceException(
                    $"impossible budget window {budget}: the most expensive architecture of " +
                    $"'{space.Skeleton.Name}'{fixedText} costs " +
                    $"{CostMetrics.Format(l.Metric, Sum(l.Metric, v => v.Max()))}; " +
                    "lower the budget or its minimum fraction");
        }

        var verdicts = new BlockVerdicts[options.Length];
        for (var b = 0; b < options.Length; b++)
        {
            var own = options[b];
            verdicts[b] = new BlockVerdicts(b, space.IsVital[b], fixedOps.ContainsKey(b), own.Select(x =>
            {
                // Exact per limit: the candidate stays when, with every other block at its cheapest (dearest) in
                // that metric, the network can get under the maximum (over the minimum).
                string? why = null;
                foreach (var l in budget.Limits)
                {
                    var m = l.Metric;
                    var cheapest = cheapestSum[m] - own.Min(o => o.Cost.Of(m)) + x.Cost.Of(m);
                    var dearest = dearestSum[m] - own.Max(o => o.Cost.Of(m)) + x.Cost.Of(m);
                    why ??= cheapest > l.Max
                        ? "with every other block at its cheapest the network costs " +
                            $"{CostMetrics.Format(m, cheapest)} > {CostMetrics.Format(m, l.Max)}"
                        : dearest < l.Min
                            ? "with every other block at its dearest the network costs " +
                                $"{CostMetrics.Format(m, dearest)} < {CostMetrics.Format(m, l.Min)}"
                            : null;
                }
                return new CandidateVerdict(x.Op, x.Cost, why is null, why);
            }).ToArray());
        }

        var spaceSize = options.Aggregate(BigInteger.One, (n, o) => n * o.Length);
        var kept = verdicts.Select(v => v.Kept.Select(c => c.Cost).ToArray()).ToArray();
        if (kept.Any(k => k.Length == 0))
            throw new SearchSpaceException(
                $"impossible budget {budget}: no architecture of '{space.Skeleton.Name}'{fixedText} meets every " +
                $"limit at once (block {Array.FindIndex(kept, k => k.Length == 0)} has no candidate left); " +
                $"the cheapest reachable in each dimension: {Cheapest()}");
        var (count, exact, units) = CountInWindow(kept, fixedCost, budget, countWork);
        if (count.IsZero && exact)
            throw new SearchSpaceException(
                $"impossible budget {budget}: no architecture of '{space.Skeleton.Name}'{fixedText} meets every " +
                $"limit at once; the cheapest reachable in each dimension: {Cheapest()}");
        return new ShrunkSpace(space, budget, verdicts, spaceSize, count, exact, units);
    }

    /// <summary>A latency limit needs the latencies the cost model got from a table.</summary>
    private static void RequireMeasured(ArchitectureSpace space, Budget budget)
    {
        if (budget.LimitOn(CostMetric.Latency) is not null && space.Costs.Latencies is null)
            throw new SearchSpaceException(
                $"a latency budget needs a latency table for '{space.Skeleton.Name}' (hournas latency-table)");
    }

    /// <summary>
    /// Number of ways to pick one cost per block so that fixed + sum meets every limit of the budget. Costs are
    /// shifted so each block's cheapest is 0 in every limited metric; the DP runs over the remaining room per
    /// metric, in units of each metric's gcd when the grid is small enough (exact), else in the finest units the
    /// work limit allows, shared out between the metrics (costs rounded). <c>Units</c> are per limit, in order.
    /// </summary>
    public static (BigInteger Count, bool Exact, long[] Units) CountInWindow(
        IReadOnlyList<Cost[]> blockCosts, Cost fixedCost, Budget budget, long countWork = DefaultCountWork)
    {
        var limits = budget.Limits;
        var dims = limits.Count;
        var residuals = new long[dims][][];
        var rooms = new long[dims];
        var lows = new long[dims];
        for (var d = 0; d < dims; d++)
        {
            var m = limits[d].Metric;
            var values = blockCosts.Select(c => c.Select(x => x.Of(m)).ToArray()).ToArray();
            var baseCost = fixedCost.Of(m) + values.Sum(v => v.Min());
            rooms[d] = limits[d].Max - baseCost;
            lows[d] = limits[d].Min - baseCost;
            residuals[d] = values.Select(v => v.Select(x => x - v.Min()).ToArray()).ToArray();
        }
        var units = new long[dims];
        Array.Fill(units, 1);
        if (rooms.Any(r => r < 0)) return (BigInteger.Zero, true, units);
        if (blockCosts.Aggregate(BigInteger.One, (n, r) => n * r.Length) > (BigInteger)UInt128.MaxValue)
            throw new SearchSpaceException("the space has more than 2^128 architectures: too large to count");
        var transitions = Math.Max(1, blockCosts.Sum(r => (long)r.Length));
        // With several limits a dense grid of every metric is mostly empty: count over the partial sums that occur
        // instead, exactly, unless there are too many of them.
        if (dims > 1 && CountSparse(residuals, rooms, lows, countWork / transitions) is { } sparse)
            return (sparse, true, units);

        // Exact grids first; if their product is over the work limit, share the cells out, smallest grid first.
        var gcds = residuals.Select(r => r.SelectMany(x => x).Where(x => x > 0).Aggregate(0L, Gcd)).ToArray();
        var exactCells = new double[dims];
        for (var d = 0; d < dims; d++)
        {
            units[d] = gcds[d] == 0 ? 1 : gcds[d];
            exactCells[d] = rooms[d] / units[d] + 1.0;
        }
        var exact = true;
        if (exactCells.Aggregate(1.0, (p, c) => p * c) * transitions > countWork)
        {
            var left = Math.Max(1.0, (double)countWork / transitions);
            var order = Enumerable.Range(0, dims).OrderBy(d => exactCells[d]).ToArray();
            for (var i = 0; i < dims; i++)
            {
                var d = order[i];
                var share = Math.Max(1.0, Math.Floor(Math.Pow(left, 1.0 / (dims - i))));
                if (exactCells[d] > share)
                {
                    units[d] = Math.Max(units[d], (long)Math.Ceiling(rooms[d] / Math.Max(1.0, share - 1)));
                    var divides = gcds[d] > 0 && units[d] % gcds[d] == 0
                        && residuals[d].SelectMany(r => r).All(x => x % units[d] == 0);
                    exact &= divides;
                }
                left /= rooms[d] / units[d] + 1.0;
            }
        }

        var cells = new int[dims];
        var strides = new int[dims];
        var total = 1;
        for (var d = 0; d < dims; d++)
        {
            cells[d] = (int)(rooms[d] / units[d]) + 1;
            strides[d] = total;
            total = checked(total * cells[d]);
        }
        // Per block and option, the step in cells (a step reaching a metric's last cell + 1 cannot be taken).
        var steps = blockCosts.Select((options, b) => options.Select((_, o) => Enumerable.Range(0, dims)
            .Select(d => (int)Math.Min(cells[d], (long)Math.Round((double)residuals[d][b][o] / units[d])))
            .ToArray()).ToArray()).ToArray();
        // Each cell's coordinate per metric, so a step's bounds check is a lookup.
        var coords = new int[dims][];
        for (var d = 0; d < dims; d++)
        {
            coords[d] = new int[total];
            for (var i = 0; i < total; i++) coords[d][i] = i / strides[d] % cells[d];
        }

        var ways = new UInt128[total];
        var next = new UInt128[total];
        ways[0] = 1;
        foreach (var block in steps)
        {
            Array.Clear(next);
            foreach (var step in block)
            {
                var offset = 0;
                var fits = true;
                for (var d = 0; d < dims; d++)
                {
                    offset += step[d] * strides[d];
                    fits &= step[d] < cells[d];
                }
                if (!fits) continue;
                if (dims == 1)
                {
                    for (var i = 0; i + offset < total; i++) next[i + offset] += ways[i];
                    continue;
                }
                for (var i = 0; i < total; i++)
                {
                    if (ways[i] == 0) continue;
                    var inside = true;
                    for (var d = 0; d < dims && inside; d++) inside = coords[d][i] + step[d] < cells[d];
                    if (inside) next[i + offset] += ways[i];
                }
            }
            (ways, next) = (next, ways);
        }

        var firsts = lows.Select((low, d) => low <= 0 ? 0 : (int)Math.Min(cells[d], (low + units[d] - 1) / units[d]))
            .ToArray();
        UInt128 count = 0;
        for (var i = 0; i < total; i++)
        {
            var inWindow = true;
            for (var d = 0; d < dims && inWindow; d++) inWindow = coords[d][i] >= firsts[d];
            if (inWindow) count += ways[i];
        }
        return ((BigInteger)count, exact, units);
    }

    /// <summary>
    /// The exact count over the distinct partial cost vectors (at most three metrics), or null when more than
    /// <paramref name="maxStates"/> of them occur.
    /// </summary>
    private static BigInteger? CountSparse(long[][][] residuals, long[] rooms, long[] lows, long maxStates)
    {
        var dims = rooms.Length;
        if (dims > 3) return null;
        var states = new Dictionary<(long, long, long), UInt128> { [(0, 0, 0)] = 1 };
        var blocks = residuals[0].Length;
        for (var b = 0; b < blocks; b++)
        {
            var next = new Dictionary<(long, long, long), UInt128>();
            foreach (var ((x, y, z), ways) in states)
                for (var o = 0; o < residuals[0][b].Length; o++)
                {
                    var key = (x + residuals[0][b][o], dims > 1 ? y + residuals[1][b][o] : 0,
                        dims > 2 ? z + residuals[2][b][o] : 0);
                    if (key.Item1 > rooms[0] || (dims > 1 && key.Item2 > rooms[1])
                        || (dims > 2 && key.Item3 > rooms[2]))
                        continue;
                    next[key] = next.GetValueOrDefault(key) + ways;
                    if (next.Count > maxStates) return null;
                }
            states = next;
        }
        UInt128 count = 0;
        foreach (var ((x, y, z), ways) in states)
            if (x >= lows[0] && (dims < 2 || y >= lows[1]) && (dims < 3 || z >= lows[2]))
                count += ways;
        return (BigInteger)count;
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
