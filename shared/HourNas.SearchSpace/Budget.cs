using System.Globalization;

namespace HourNas.SearchSpace;

/// <summary>A dimension of an architecture's cost that a budget can bound.</summary>
public enum CostMetric
{
    /// <summary>Multiply-adds (reported as FLOPs, the NAS convention).</summary>
    Flops,

    /// <summary>Trainable parameters.</summary>
    Params,

    /// <summary>Latency per image in nanoseconds, from a measured latency table.</summary>
    Latency,
}

/// <summary>Reading, naming and formatting one metric of a <see cref="Cost"/>.</summary>
public static class CostMetrics
{
    public static long Of(this Cost cost, CostMetric metric) => metric switch
    {
        CostMetric.Flops => cost.Macs,
        CostMetric.Params => cost.Params,
        CostMetric.Latency => cost.LatencyNs,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
    };

    /// <summary>How many raw units make one display unit: MFLOPs, M params, ms.</summary>
    public static double Scale(CostMetric metric) => 1e6;

    public static string Unit(CostMetric metric) => metric switch
    {
        CostMetric.Flops => "MFLOPs",
        CostMetric.Params => "M params",
        _ => "ms",
    };

    /// <summary>A value in display units, e.g. "1.95 MFLOPs", "0.052 M params", "1.20 ms".</summary>
    public static string Format(CostMetric metric, double raw) => $"{Number(metric, raw)} {Unit(metric)}";

    /// <summary>The number alone, in display units (parameters to the thousand, the others to 0.01).</summary>
    public static string Number(CostMetric metric, double raw) =>
        (raw / Scale(metric)).ToString(metric == CostMetric.Params ? "F3" : "F2", CultureInfo.InvariantCulture);

    public static long FromDisplay(CostMetric metric, double value) => (long)Math.Round(value * Scale(metric));
}

/// <summary>
/// One bound of a budget: the metric must be at most <see cref="Max"/> and at least <see cref="Min"/> (0 for
/// an upper bound only).
/// </summary>
public sealed record Limit(CostMetric Metric, long Max, long Min = 0)
{
    public bool Contains(Cost cost)
    {
        var value = cost.Of(Metric);
        return value >= Min && value <= Max;
    }

    public override string ToString() => Min > 0
        ? $"[{CostMetrics.Number(Metric, Min)}, {CostMetrics.Number(Metric, Max)}] {CostMetrics.Unit(Metric)}"
        : $"<= {CostMetrics.Format(Metric, Max)}";
}

/// <summary>
/// What an architecture must fit: one or more <see cref="Limit"/>s, each on its own metric. The first is the
/// primary one: it alone has a lower end (default 0.9 of its maximum), so the search does not waste the capacity
/// it may afford, and the proposal's target lies in its window. With several budgets the primary is the first
/// given in the order FLOPs, latency, parameters (<see cref="Of"/>): FLOPs is what HourNAS's proposal was built
/// around, latency is what a user spends, and a parameter count is rarely something to fill.
/// </summary>
public sealed record Budget
{
    public const double DefaultMinFraction = 0.9;

    public Budget(IReadOnlyList<Limit> limits)
    {
        if (limits.Count == 0) throw new SearchSpaceException("a budget needs at least one limit");
        if (limits.Select(l => l.Metric).Distinct().Count() != limits.Count)
            throw new SearchSpaceException("a budget has at most one limit per metric");
        foreach (var l in limits)
            if (l.Max < 0 || l.Min < 0 || l.Min > l.Max)
                throw new SearchSpaceException($"invalid {l.Metric} limit: [{l.Min}, {l.Max}]");
        if (limits.Skip(1).Any(l => l.Min > 0))
            throw new SearchSpaceException("only the primary (first) limit of a budget may have a lower end");
        Limits = limits.ToArray();
    }

    /// <summary>A FLOPs-only window [<paramref name="minMacs"/>, <paramref name="maxMacs"/>].</summary>
    public Budget(long maxMacs, long minMacs) : this([new Limit(CostMetric.Flops, maxMacs, minMacs)])
    {
    }

    public IReadOnlyList<Limit> Limits { get; }

    public Limit Primary => Limits[0];

    public Limit? LimitOn(CostMetric metric) => Limits.FirstOrDefault(l => l.Metric == metric);

    /// <summary>The FLOPs window: the FLOPs limit's, or [0, long.MaxValue] when FLOPs are not bounded.</summary>
    public long MaxMacs => LimitOn(CostMetric.Flops)?.Max ?? long.MaxValue;

    public long MinMacs => LimitOn(CostMetric.Flops)?.Min ?? 0;

    /// <summary>The FLOPs limit in MFLOPs, or null when the budget does not bound FLOPs.</summary>
    public double? MaxMFlops => LimitOn(CostMetric.Flops)?.Max / 1e6;

    public double? MinMFlops => LimitOn(CostMetric.Flops)?.Min / 1e6;

    public bool Contains(Cost cost)
    {
        foreach (var l in Limits)
            if (!l.Contains(cost)) return false;
        return true;
    }

    public static Budget FromMFlops(double maxMFlops, double minFraction = DefaultMinFraction) =>
        Of(maxMFlops, null, null, minFraction);

    /// <summary>
    /// A budget from the user's numbers (MFLOPs, millions of parameters, milliseconds per image), any of them
    /// null; the first given in the order FLOPs, latency, parameters is the primary and gets the lower end.
    /// </summary>
    public static Budget Of(double? maxMFlops, double? maxMParams, double? maxMilliseconds,
        double minFraction = DefaultMinFraction)
    {
        if (!(minFraction >= 0 && minFraction <= 1))
            throw new SearchSpaceException($"the minimum fraction of the budget must be in [0, 1], got {minFraction}");
        var given = new List<(CostMetric Metric, double Value, string Name)>();
        if (maxMFlops is { } f) given.Add((CostMetric.Flops, f, "MFLOPs"));
        if (maxMilliseconds is { } ms) given.Add((CostMetric.Latency, ms, "milliseconds per image"));
        if (maxMParams is { } p) given.Add((CostMetric.Params, p, "millions of parameters"));
        if (given.Count == 0) throw new SearchSpaceException("no budget given: set FLOPs, parameters or latency");
        var limits = new List<Limit>();
        foreach (var (metric, value, name) in given)
        {
            if (!(value > 0) || double.IsInfinity(value))
                throw new SearchSpaceException($"the budget must be a positive number of {name}, got {value}");
            var max = CostMetrics.FromDisplay(metric, value);
            limits.Add(new Limit(metric, max, limits.Count == 0 ? (long)Math.Round(max * minFraction) : 0));
        }
        return new Budget(limits);
    }

    public override string ToString() => string.Join(" and ", Limits.Select(l => l.ToString()));
}
