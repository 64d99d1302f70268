namespace HourNas.SearchSpace;

/// <summary>
/// The space proposal: the maximum-entropy factorized distribution over each block's allowed operations
/// whose expected network cost equals a target T. Its closed form is p_l(o) proportional to
/// exp(-lambda c_l(o)); lambda is found by bisection (negative lambda favours dearer operations).
/// </summary>
public sealed class Proposal
{
    private Proposal(ShrunkSpace space, IReadOnlyList<double[]> probabilities, double lambda, double targetMacs)
    {
        Space = space;
        Probabilities = probabilities;
        Lambda = lambda;
        TargetMacs = targetMacs;
        ExpectedMacs = Expected(space, probabilities);
    }

    public ShrunkSpace Space { get; }

    /// <summary>
    /// Per block, the probability of each allowed operation (same order as <see cref="ShrunkSpace.Allowed"/>).
    /// </summary>
    public IReadOnlyList<double[]> Probabilities { get; }

    /// <summary>The Lagrange multiplier, per MFLOP.</summary>
    public double Lambda { get; }

    public double TargetMacs { get; }

    public double ExpectedMacs { get; }

    /// <summary>
    /// Uniform over each block's allowed operations (the budget-filtered SPOS baseline samples this way).
    /// </summary>
    public static Proposal Uniform(ShrunkSpace space) =>
        new(space, space.Allowed.Select(a => Enumerable.Repeat(1.0 / a.Count, a.Count).ToArray()).ToArray(), 0,
            double.NaN);

    /// <summary>Default target: the middle of the budget window.</summary>
    public static double DefaultTarget(Budget budget) => (budget.MinMacs + budget.MaxMacs) / 2.0;

    /// <summary>
    /// The maximum-entropy proposal with expected cost <paramref name="targetMacs"/> (default: the window's middle).
    /// </summary>
    public static Proposal MaxEntropy(ShrunkSpace space, double? targetMacs = null)
    {
        var target = targetMacs ?? DefaultTarget(space.Budget);
        if (!(target >= space.Budget.MinMacs && target <= space.Budget.MaxMacs))
            throw new SearchSpaceException(
                $"proposal target {target / 1e6:F2} MFLOPs lies outside the budget window {space.Budget}");
        // The reachable expectations lie between the cheapest and dearest architecture; clamp into them.
        double lo = space.MinMacs, hi = space.MaxMacs;
        if (target <= lo) return AtLambda(space, double.PositiveInfinity, target);
        if (target >= hi) return AtLambda(space, double.NegativeInfinity, target);

        // Expected cost decreases in lambda: bracket, then bisect.
        double a = -1, b = 1;
        while (Expected(space, ProbabilitiesAt(space, b)) > target && b < 1e12) b *= 2;
        while (Expected(space, ProbabilitiesAt(space, a)) < target && a > -1e12) a *= 2;
        for (var i = 0; i < 200 && b - a > 1e-12 * Math.Max(1, Math.Abs(a)); i++)
        {
            var mid = (a + b) / 2;
            if (Expected(space, ProbabilitiesAt(space, mid)) > target) a = mid; else b = mid;
        }
        return AtLambda(space, (a + b) / 2, target);
    }

    private static Proposal AtLambda(ShrunkSpace space, double lambda, double target) =>
        new(space, ProbabilitiesAt(space, lambda), lambda, target);

    private static double[][] ProbabilitiesAt(ShrunkSpace space, double lambda)
    {
        var result = new double[space.Allowed.Count][];
        for (var b = 0; b < result.Length; b++)
        {
            var n = space.Allowed[b].Count;
            var x = new double[n];
            for (var o = 0; o < n; o++) x[o] = space.BlockMacs(b, o) / 1e6;
            var p = new double[n];
            if (double.IsInfinity(lambda))
            {
                // All mass on the cheapest (lambda = +inf) or dearest (-inf) operation.
                var pick = lambda > 0 ? Array.IndexOf(x, x.Min()) : Array.IndexOf(x, x.Max());
                p[pick] = 1;
            }
            else
            {
                // Stable softmax of -lambda x.
                var logits = x.Select(v => -lambda * v).ToArray();
                var max = logits.Max();
                var sum = 0.0;
                for (var o = 0; o < n; o++) sum += p[o] = Math.Exp(logits[o] - max);
                for (var o = 0; o < n; o++) p[o] /= sum;
            }
            result[b] = p;
        }
        return result;
    }

    private static double Expected(ShrunkSpace space, IReadOnlyList<double[]> probabilities)
    {
        double total = space.FixedMacs;
        for (var b = 0; b < probabilities.Count; b++)
            for (var o = 0; o < probabilities[b].Length; o++)
                total += probabilities[b][o] * space.BlockMacs(b, o);
        return total;
    }
}
