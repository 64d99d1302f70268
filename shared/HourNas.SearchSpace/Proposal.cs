namespace HourNas.SearchSpace;

/// <summary>
/// The space proposal: the maximum-entropy factorized distribution over each block's allowed operations whose
/// expected network cost hits a target. With one limit its closed form is p_l(o) proportional to
/// exp(-lambda c_l(o)), lambda found by bisection (negative lambda favours dearer operations). With several limits
/// there is one multiplier per limit: p_l(o) proportional to exp(-sum_d lambda_d c_ld(o)). The primary limit's
/// expectation equals its target (the window's middle by default); every other limit's expectation is held at or
/// below its own target, the same fraction of its maximum as the primary target is of the primary maximum
/// (lambda_d >= 0, and 0 when the constraint is slack). The multipliers are found by cyclic coordinate
/// bisection on the convex dual.
/// </summary>
public sealed class Proposal
{
    private Proposal(ShrunkSpace space, IReadOnlyList<double[]> probabilities, IReadOnlyList<double> lambdas,
        IReadOnlyList<double> targets)
    {
        Space = space;
        Probabilities = probabilities;
        Lambdas = lambdas;
        Targets = targets;
        Expected = space.Budget.Limits.Select(l => ExpectedOf(space, probabilities, l.Metric)).ToArray();
        ExpectedMacs = ExpectedOf(space, probabilities, CostMetric.Flops);
    }

    public ShrunkSpace Space { get; }

    /// <summary>
    /// Per block, the probability of each allowed operation (same order as <see cref="ShrunkSpace.Allowed"/>).
    /// </summary>
    public IReadOnlyList<double[]> Probabilities { get; }

    /// <summary>The Lagrange multiplier of each limit of the budget (in its order), per display unit.</summary>
    public IReadOnlyList<double> Lambdas { get; }

    /// <summary>The primary limit's multiplier.</summary>
    public double Lambda => Lambdas[0];

    /// <summary>Each limit's target expectation in raw units (NaN for the uniform proposal).</summary>
    public IReadOnlyList<double> Targets { get; }

    /// <summary>Each limit's expected cost under this proposal, in raw units.</summary>
    public IReadOnlyList<double> Expected { get; }

    /// <summary>The primary target (raw units of the primary metric; multiply-adds for a FLOPs budget).</summary>
    public double TargetMacs => Targets[0];

    public double ExpectedMacs { get; }

    /// <summary>
    /// Uniform over each block's allowed operations (the budget-filtered SPOS baseline samples this way).
    /// </summary>
    public static Proposal Uniform(ShrunkSpace space) =>
        new(space, space.Allowed.Select(a => Enumerable.Repeat(1.0 / a.Count, a.Count).ToArray()).ToArray(),
            new double[space.Budget.Limits.Count], space.Budget.Limits.Select(_ => double.NaN).ToArray());

    /// <summary>
    /// This proposal with each block's probabilities passed through <see cref="BalanceFamilies"/>. The expected
    /// cost moves; the targets are this proposal's.
    /// </summary>
    public Proposal WithFamiliesBalanced(BlockStyle style) =>
        new(Space, Probabilities.Select((p, b) => BalanceFamilies(Space.Allowed[b], p, style)).ToArray(), Lambdas,
            Targets);

    /// <summary>
    /// One block's probabilities with the MBConv mass split equally between the candidates that have a 1x1
    /// expansion conv under <paramref name="style"/> and those that do not, within each group in the given
    /// proportions; skip keeps its probability. In an entangled supernet each group holds one set of weights, so
    /// under uniform sampling the group without expansion (e1: 3 of 9 candidates) trains on a third of the steps
    /// and the other on two thirds; balanced, each trains on half.
    /// </summary>
    public static double[] BalanceFamilies(IReadOnlyList<Operation> ops, IReadOnlyList<double> probabilities,
        BlockStyle style)
    {
        if (ops.Count != probabilities.Count)
            throw new ArgumentException($"{ops.Count} operations but {probabilities.Count} probabilities");
        var mbconvs = Enumerable.Range(0, ops.Count).Where(o => !ops[o].IsSkip).ToArray();
        // A group given no mass keeps none: balancing must not revive what a budget ruled out.
        var groups = mbconvs.GroupBy(o => CostModel.HasExpansion(style, ops[o]))
            .Select(g => (Ops: g.ToArray(), Mass: g.Sum(o => probabilities[o]))).Where(g => g.Mass > 0).ToArray();
        var share = mbconvs.Sum(o => probabilities[o]) / Math.Max(1, groups.Length);
        var balanced = probabilities.ToArray();
        foreach (var (group, mass) in groups)
            foreach (var o in group) balanced[o] = share * probabilities[o] / mass;
        return balanced;
    }

    /// <summary>Default target: the middle of the primary limit's window.</summary>
    public static double DefaultTarget(Budget budget) => (budget.Primary.Min + budget.Primary.Max) / 2.0;

    /// <summary>
    /// The maximum-entropy proposal with expected primary cost <paramref name="targetMacs"/> (raw units of the
    /// primary metric; default: the window's middle) and every other limit's expectation at most its target.
    /// </summary>
    public static Proposal MaxEntropy(ShrunkSpace space, double? targetMacs = null)
    {
        var limits = space.Budget.Limits;
        var primary = limits[0];
        var target = targetMacs ?? DefaultTarget(space.Budget);
        if (!(target >= primary.Min && target <= primary.Max))
            throw new SearchSpaceException(
                $"proposal target {CostMetrics.Format(primary.Metric, target)} lies outside the budget window " +
                $"{primary}");
        var fraction = target / primary.Max;
        var targets = limits.Select((l, d) => d == 0 ? target : fraction * l.Max).ToArray();
        var costs = space.Allowed.Select((a, b) => Enumerable.Range(0, a.Count)
            .Select(o => limits.Select(l => space.BlockCost(b, o).Of(l.Metric) / CostMetrics.Scale(l.Metric))
                .ToArray()).ToArray()).ToArray();
        var lambdas = new double[limits.Count];
        double ExpectedAt(int d) =>
            Expectation(costs, ProbabilitiesAt(costs, lambdas), d) + space.FixedCost.Of(limits[d].Metric) /
            CostMetrics.Scale(limits[d].Metric);

        // The primary's reachable expectations lie between its cheapest and dearest architecture: clamp into them.
        var primaryLo = space.Min(primary.Metric);
        var primaryHi = space.Max(primary.Metric);
        var scaled = targets.Select((t, d) => t / CostMetrics.Scale(limits[d].Metric)).ToArray();
        for (var sweep = 0; sweep < (limits.Count == 1 ? 1 : 200); sweep++)
        {
            var moved = 0.0;
            for (var d = 0; d < limits.Count; d++)
            {
                var before = lambdas[d];
                if (d == 0)
                {
                    if (limits.Count == 1 && target <= primaryLo) lambdas[0] = double.PositiveInfinity;
                    else if (limits.Count == 1 && target >= primaryHi) lambdas[0] = double.NegativeInfinity;
                    else lambdas[0] = Solve(x => { lambdas[0] = x; return ExpectedAt(0); }, scaled[0], true);
                }
                else
                {
                    lambdas[d] = 0;
                    if (ExpectedAt(d) > scaled[d])
                        lambdas[d] = Solve(x => { lambdas[d] = x; return ExpectedAt(d); }, scaled[d], false);
                }
                moved = Math.Max(moved, Math.Abs(lambdas[d] - before) / Math.Max(1, Math.Abs(lambdas[d])));
            }
            if (moved < 1e-9) break;
        }
        return new Proposal(space, ProbabilitiesAt(costs, lambdas), lambdas, targets);
    }

    /// <summary>
    /// The multiplier at which a decreasing expectation meets the target: bracket by doubling, then bisect.
    /// Without <paramref name="signed"/> the multiplier stays at or above 0.
    /// </summary>
    private static double Solve(Func<double, double> expectedAt, double target, bool signed)
    {
        double a = signed ? -1 : 0, b = 1;
        while (expectedAt(b) > target && b < 1e12) b *= 2;
        while (signed && expectedAt(a) < target && a > -1e12) a *= 2;
        for (var i = 0; i < 200 && b - a > 1e-12 * Math.Max(1, Math.Abs(a)); i++)
        {
            var mid = (a + b) / 2;
            if (expectedAt(mid) > target) a = mid; else b = mid;
        }
        return (a + b) / 2;
    }

    /// <summary>Per block, the softmax of -sum_d lambda_d c_d over its operations (costs in display units).</summary>
    private static double[][] ProbabilitiesAt(double[][][] costs, IReadOnlyList<double> lambdas)
    {
        var result = new double[costs.Length][];
        for (var b = 0; b < result.Length; b++)
        {
            var n = costs[b].Length;
            var p = new double[n];
            var infinite = Enumerable.Range(0, lambdas.Count).FirstOrDefault(d => double.IsInfinity(lambdas[d]), -1);
            if (infinite >= 0)
            {
                // All mass on the cheapest (lambda = +inf) or dearest (-inf) operation of that metric.
                var x = costs[b].Select(c => c[infinite]).ToArray();
                var pick = lambdas[infinite] > 0 ? Array.IndexOf(x, x.Min()) : Array.IndexOf(x, x.Max());
                p[pick] = 1;
            }
            else
            {
                var logits = new double[n];
                for (var o = 0; o < n; o++)
                    for (var d = 0; d < lambdas.Count; d++)
                        logits[o] -= lambdas[d] * costs[b][o][d];
                var max = logits.Max();
                var sum = 0.0;
                for (var o = 0; o < n; o++) sum += p[o] = Math.Exp(logits[o] - max);
                for (var o = 0; o < n; o++) p[o] /= sum;
            }
            result[b] = p;
        }
        return result;
    }

    private static double Expectation(double[][][] costs, double[][] probabilities, int d)
    {
        var total = 0.0;
        for (var b = 0; b < costs.Length; b++)
            for (var o = 0; o < costs[b].Length; o++)
                total += probabilities[b][o] * costs[b][o][d];
        return total;
    }

    private static double ExpectedOf(ShrunkSpace space, IReadOnlyList<double[]> probabilities, CostMetric metric)
    {
        double total = space.FixedCost.Of(metric);
        for (var b = 0; b < probabilities.Count; b++)
            for (var o = 0; o < probabilities[b].Length; o++)
                total += probabilities[b][o] * space.BlockCost(b, o).Of(metric);
        return total;
    }
}
