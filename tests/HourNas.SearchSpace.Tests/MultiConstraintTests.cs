using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

/// <summary>
/// Budgets with several limits (FLOPs, parameters, latency): counting, pruning, the proposal, sampling and the
/// evolution against brute-force enumeration of tiny spaces.
/// </summary>
public class MultiConstraintTests
{
    private static readonly ArchitectureSpace Tiny =
        new ArchitectureSpace(TinySpaces.Tiny).WithLatencies(TinyLatencies.For(new ArchitectureSpace(TinySpaces.Tiny)));

    private static readonly (int[] Choice, Cost Cost)[] All = TinySpaces
        .Enumerate(Tiny.Candidates.Select(c => c.Count).ToArray())
        .Select(c => (c, c.Select((o, b) => Tiny.Costs.Block(b, Tiny.Candidates[b][o]))
            .Aggregate(Tiny.Costs.Fixed, (sum, x) => sum + x)))
        .ToArray();

    private static long Quantile(CostMetric metric, double q)
    {
        var sorted = All.Select(a => a.Cost.Of(metric)).Order().ToArray();
        return sorted[(int)Math.Round(q * (sorted.Length - 1))];
    }

    /// <summary>Budgets of two and three limits across the space, tight and loose, primary on each metric.</summary>
    public static IEnumerable<Budget> Budgets()
    {
        // A low FLOPs limit drops dear candidates, a high window's lower end cheap ones.
        yield return new Budget([new Limit(CostMetric.Flops, Quantile(CostMetric.Flops, 0.05)),
            new Limit(CostMetric.Params, Quantile(CostMetric.Params, 0.9))]);
        yield return new Budget([
            new Limit(CostMetric.Flops, Quantile(CostMetric.Flops, 1), Quantile(CostMetric.Flops, 0.95)),
            new Limit(CostMetric.Latency, Quantile(CostMetric.Latency, 0.9))]);
        foreach (var qf in new[] { 0.3, 0.6, 0.9 })
            foreach (var qp in new[] { 0.2, 0.5, 0.8 })
            {
                var f = Quantile(CostMetric.Flops, qf);
                var p = Quantile(CostMetric.Params, qp);
                var l = Quantile(CostMetric.Latency, (qf + qp) / 2);
                yield return new Budget([new Limit(CostMetric.Flops, f, f * 7 / 10), new Limit(CostMetric.Params, p)]);
                yield return new Budget([new Limit(CostMetric.Params, p, p / 2), new Limit(CostMetric.Flops, f)]);
                yield return new Budget(
                [
                    new Limit(CostMetric.Flops, f, f / 2), new Limit(CostMetric.Params, p),
                    new Limit(CostMetric.Latency, l),
                ]);
                yield return new Budget(
                    [new Limit(CostMetric.Latency, l, l * 8 / 10), new Limit(CostMetric.Params, p)]);
            }
    }

    [Fact]
    public void Window_counts_equal_brute_force_with_two_and_three_limits()
    {
        var checkedBudgets = 0;
        foreach (var budget in Budgets())
        {
            var expected = All.Count(a => budget.Contains(a.Cost));
            if (expected == 0)
            {
                Assert.Throws<SearchSpaceException>(() => SpaceShrinker.Shrink(Tiny, budget));
                continue;
            }
            var shrunk = SpaceShrinker.Shrink(Tiny, budget);
            Assert.True(shrunk.CountIsExact, $"{budget}: {shrunk.CountMethod}");
            Assert.True(expected == (int)shrunk.ArchitecturesInWindow,
                $"{budget}: counted {shrunk.ArchitecturesInWindow}, brute force {expected}");
            checkedBudgets++;
        }
        Assert.True(checkedBudgets >= 20, $"only {checkedBudgets} budgets had architectures");
    }

    [Fact]
    public void Pruning_is_exact_per_limit()
    {
        var droppedFor = new HashSet<CostMetric>();
        foreach (var budget in Budgets())
        {
            if (!All.Any(a => budget.Contains(a.Cost))) continue;
            var shrunk = SpaceShrinker.Shrink(Tiny, budget);
            for (var b = 0; b < Tiny.Blocks.Count; b++)
                for (var o = 0; o < Tiny.Candidates[b].Count; o++)
                {
                    var with = All.Where(a => a.Choice[b] == o).ToArray();
                    // Kept exactly when, for every limit on its own, some architecture with it meets that limit.
                    var expected = budget.Limits.All(l => with.Any(a => l.Contains(a.Cost)));
                    var verdict = shrunk.Verdicts[b].Candidates[o];
                    Assert.True(expected == verdict.Kept, $"{budget}, block {b} {verdict.Op}: kept={verdict.Kept}");
                    if (verdict.Kept) continue;
                    var failing = budget.Limits.Where(l => !with.Any(a => l.Contains(a.Cost))).ToArray();
                    Assert.Contains(CostMetrics.Unit(failing[0].Metric), verdict.DroppedBecause);
                    droppedFor.UnionWith(failing.Select(l => l.Metric));
                }
        }
        Assert.True(droppedFor.Count == 3, $"dropped only for {string.Join(", ", droppedFor)}");
    }

    [Fact]
    public void Rounded_counting_with_two_limits_stays_close_and_says_so()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var budget = Budget.Of(2.0, 0.05, null);
        var exact = SpaceShrinker.Shrink(space, budget, countWork: 600_000_000);
        var rounded = SpaceShrinker.Shrink(space, budget, countWork: 200_000);
        Assert.True(exact.CountIsExact);
        Assert.False(rounded.CountIsExact);
        Assert.Contains("grid", rounded.CountMethod);
        var ratio = (double)rounded.ArchitecturesInWindow / (double)exact.ArchitecturesInWindow;
        Assert.InRange(ratio, 0.9, 1.1);
        // And the exact count agrees with a FLOPs-only count minus what the parameter limit removes: fewer.
        Assert.True(
            exact.ArchitecturesInWindow < SpaceShrinker.Shrink(space, Budget.FromMFlops(2.0)).ArchitecturesInWindow);
    }

    [Fact]
    public void A_binding_second_limit_gets_a_positive_multiplier_and_holds_its_target()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var flopsOnly = Proposal.MaxEntropy(SpaceShrinker.Shrink(space, Budget.FromMFlops(2.0)));
        var paramsThere = flopsOnly.Space.Budget.Limits.Count == 1
            ? ExpectedParams(flopsOnly)
            : throw new InvalidOperationException();
        // A parameter limit 10% under what the FLOPs-only proposal expects binds; 50% over it is slack.
        var tight = Proposal.MaxEntropy(SpaceShrinker.Shrink(space, Budget.Of(2.0, paramsThere * 0.9 / 1e6, null)));
        Assert.True(Math.Abs(tight.Expected[0] - tight.Targets[0]) <= 0.005 * tight.Targets[0],
            $"FLOPs expected {tight.Expected[0]:N0}, target {tight.Targets[0]:N0}");
        Assert.True(tight.Lambdas[1] > 0);
        Assert.True(tight.Expected[1] <= tight.Targets[1] * 1.005,
            $"params expected {tight.Expected[1]:N0}, target {tight.Targets[1]:N0}");
        var slack = Proposal.MaxEntropy(SpaceShrinker.Shrink(space, Budget.Of(2.0, paramsThere * 1.5 / 1e6, null)));
        Assert.Equal(0, slack.Lambdas[1]);
        Assert.Equal(flopsOnly.Lambda, slack.Lambda, 6);
    }

    private static double ExpectedParams(Proposal p) =>
        p.Space.FixedCost.Params + p.Probabilities.Select((probs, b) =>
            probs.Select((q, o) => q * p.Space.BlockCost(b, o).Params).Sum()).Sum();

    [Fact]
    public void Probabilities_follow_the_exponential_family_in_every_multiplier()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var proposal = Proposal.MaxEntropy(SpaceShrinker.Shrink(space, Budget.Of(2.0, 0.045, null)));
        Assert.True(proposal.Lambdas[1] > 0, "the test needs a binding parameter limit");
        var shrunk = proposal.Space;
        for (var b = 0; b < shrunk.Allowed.Count; b++)
            for (var o = 1; o < shrunk.Allowed[b].Count; o++)
            {
                var lhs = Math.Log(proposal.Probabilities[b][o]) - Math.Log(proposal.Probabilities[b][0]);
                var (c, c0) = (shrunk.BlockCost(b, o), shrunk.BlockCost(b, 0));
                var rhs = -proposal.Lambdas[0] * (c.Macs - c0.Macs) / 1e6
                    - proposal.Lambdas[1] * (c.Params - c0.Params) / 1e6;
                Assert.Equal(rhs, lhs, 6);
            }
    }

    [Fact]
    public void Samples_and_evolution_meet_every_limit()
    {
        var budget = Budgets().First(b => b.Limits.Count == 3 && All.Count(a => b.Contains(a.Cost)) >= 10);
        var shrunk = SpaceShrinker.Shrink(Tiny, budget);
        var sampler = new ArchitectureSampler(Proposal.MaxEntropy(shrunk));
        var rng = new Rng(5);
        for (var i = 0; i < 200; i++)
            Assert.True(budget.Contains(shrunk.Cost(sampler.Sample(rng))));
        var evolution = new EvolutionarySearch(shrunk.Allowed.Select(a => a.Count).ToArray(), shrunk.InWindow,
            new EvolutionSettings(Population: 6, Generations: 4, Parents: 3, Mutations: 4, Crossovers: 4,
                MutationProbability: 0.5));
        var result = evolution.Run(c => -shrunk.Cost(c).LatencyNs, r => sampler.Sample(r), new Rng(9));
        Assert.All(result.History, e => Assert.True(budget.Contains(shrunk.Cost(e.Choice))));
        // The brute-force fastest architecture inside the budget is what the evolution should approach.
        var fastest = All.Where(a => budget.Contains(a.Cost)).Min(a => a.Cost.LatencyNs);
        Assert.True(-result.Best.Fitness <= fastest * 1.5);
    }

    [Fact]
    public void An_impossible_combination_names_the_cheapest_cost_in_each_dimension()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var full = SpaceShrinker.Shrink(space, Budget.FromMFlops(100, 0));
        var (cheapestFlops, cheapestParams) = (full.Min(CostMetric.Flops), full.Min(CostMetric.Params));
        // Each limit alone is reachable, but the networks under the FLOPs limit's lower end are too big.
        var cheapAndBig = Budget.Of(full.Max(CostMetric.Flops) / 1e6, cheapestParams * 1.01 / 1e6, null, 0.95);
        var e = Assert.Throws<SearchSpaceException>(() => SpaceShrinker.Shrink(space, cheapAndBig));
        Assert.Contains(CostMetrics.Format(CostMetric.Flops, cheapestFlops), e.Message);
        Assert.Contains(CostMetrics.Format(CostMetric.Params, cheapestParams), e.Message);
        Assert.Contains("impossible budget", e.Message);
        // A limit below the cheapest network in its own dimension says so too.
        var tooSmall = Assert.Throws<SearchSpaceException>(() =>
            SpaceShrinker.Shrink(space, Budget.Of(3.0, cheapestParams * 0.5 / 1e6, null)));
        Assert.Contains(CostMetrics.Format(CostMetric.Params, cheapestParams), tooSmall.Message);
    }

    [Fact]
    public void The_primary_limit_is_the_first_given_in_the_order_flops_latency_params()
    {
        Assert.Equal(CostMetric.Params, Budget.Of(null, 0.05, null).Primary.Metric);
        Assert.Equal(45_000, Budget.Of(null, 0.05, null).Primary.Min);
        var both = Budget.Of(2.0, 0.05, null);
        Assert.Equal([CostMetric.Flops, CostMetric.Params], both.Limits.Select(l => l.Metric));
        Assert.Equal(0, both.Limits[1].Min);
        Assert.Equal(CostMetric.Latency, Budget.Of(null, 0.05, 1.5).Primary.Metric);
        Assert.Equal(1_500_000, Budget.Of(null, 0.05, 1.5).Primary.Max);
        Assert.Throws<SearchSpaceException>(() => Budget.Of(null, null, null));
        Assert.Throws<SearchSpaceException>(() => Budget.Of(2.0, double.PositiveInfinity, null));
        Assert.Throws<SearchSpaceException>(() => Budget.Of(2.0, -1, null));
        Assert.Throws<SearchSpaceException>(() => new Budget(
            [new Limit(CostMetric.Flops, 10), new Limit(CostMetric.Params, 10, 5)]));
    }

    [Fact]
    public void Stage_one_admits_a_neck_only_when_the_bulbs_fit_every_limit()
    {
        var space = new ArchitectureSpace(TinySpaces.Tiny);
        var flopsOnly = Budget.FromMFlops(Quantile(CostMetric.Flops, 0.8) / 1e6, 0.5);
        var withParams = new Budget(
            [flopsOnly.Primary, new Limit(CostMetric.Params, Quantile(CostMetric.Params, 0.3))]);
        var vital = space.VitalBlocks;
        var necks = Choices.All(vital.Select(b => space.Candidates[b].Count).ToArray())
            .Select(c => vital.Select((b, i) => space.Costs.Block(b, space.Candidates[b][c[i]]))
                .Aggregate(space.Costs.Fixed, (s, x) => s + x))
            .Distinct().ToArray();
        var changed = 0;
        foreach (var budget in new[] { flopsOnly, withParams })
        {
            var admission = new NeckAdmission(space, budget, 0.1);
            foreach (var neck in necks)
            {
                // Brute force: the bulbs' architectures that complete this neck inside the budget.
                var bulbs = Choices.All(space.NonVitalBlocks.Select(b => space.Candidates[b].Count).ToArray())
                    .Select(c => space.NonVitalBlocks.Select((b, i) => space.Costs.Block(b, space.Candidates[b][c[i]]))
                        .Aggregate(neck, (s, x) => s + x)).ToArray();
                var expected = bulbs.Count(budget.Contains) >= Math.Max(1, 0.1 * bulbs.Length);
                Assert.Equal(expected, admission.Admits(neck));
                if (budget == withParams && expected != new NeckAdmission(space, flopsOnly, 0.1).Admits(neck))
                    changed++;
            }
        }
        Assert.True(changed > 0, "the parameter limit should change some neck's verdict");
    }
}
