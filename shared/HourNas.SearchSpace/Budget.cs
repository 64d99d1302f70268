namespace HourNas.SearchSpace;

/// <summary>
/// The FLOPs window [<see cref="MinMacs"/>, <see cref="MaxMacs"/>] an architecture must fall in: at most the
/// budget B, at least B_lo (default 0.9 B) so the search does not waste the capacity it may afford.
/// </summary>
public sealed record Budget(long MaxMacs, long MinMacs)
{
    public const double DefaultMinFraction = 0.9;

    public double MaxMFlops => MaxMacs / 1e6;

    public double MinMFlops => MinMacs / 1e6;

    public bool Contains(long macs) => macs >= MinMacs && macs <= MaxMacs;

    public static Budget FromMFlops(double maxMFlops, double minFraction = DefaultMinFraction)
    {
        if (!(maxMFlops > 0) || double.IsInfinity(maxMFlops))
            throw new SearchSpaceException($"the budget must be a positive number of MFLOPs, got {maxMFlops}");
        if (!(minFraction >= 0 && minFraction <= 1))
            throw new SearchSpaceException($"the minimum fraction of the budget must be in [0, 1], got {minFraction}");
        var max = (long)Math.Round(maxMFlops * 1e6);
        return new Budget(max, (long)Math.Round(max * minFraction));
    }

    public override string ToString() => $"[{MinMFlops:F2}, {MaxMFlops:F2}] MFLOPs";
}
