using System.Numerics;
using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class ShrinkTests
{
    private static readonly ArchitectureSpace Tiny = new(TinySpaces.Tiny);

    private static long[] AllMacs(ArchitectureSpace space) =>
        TinySpaces.Enumerate(space.Candidates.Select(c => c.Count).ToArray())
            .Select(c => TinySpaces.Macs(space, c))
            .ToArray();

    [Fact]
    public void Window_count_equals_brute_force_for_many_budgets()
    {
        var all = AllMacs(Tiny);
        Assert.Equal(3 * 4 * 4 * 2 * 3, all.Length);
        var (min, max) = (all.Min(), all.Max());
        foreach (var fraction in new[] { 0.0, 0.5, 0.9, 1.0 })
            for (var i = 0; i <= 10; i++)
            {
                var b = min + (max - min) * i / 10;
                var budget = new Budget(b, (long)(b * fraction));
                if (all.All(m => m < budget.MinMacs)) continue;
                if (!all.Any(m => budget.Contains(new Cost(m, 0))))
                {
                    // A window that falls between two architectures' costs is an impossible budget.
                    Assert.Contains("impossible budget",
                        Assert.Throws<SearchSpaceException>(() => SpaceShrinker.Shrink(Tiny, budget)).Message);
                    continue;
                }
                var shrunk = SpaceShrinker.Shrink(Tiny, budget);
                Assert.True(shrunk.CountIsExact);
                Assert.Equal(all.Count(m => budget.Contains(new Cost(m, 0))), (int)shrunk.ArchitecturesInWindow);
                Assert.Equal(all.Length, (int)shrunk.SpaceSize);
            }
    }

    [Fact]
    public void Pruning_keeps_exactly_the_candidates_some_architecture_can_use()
    {
        var all = TinySpaces.Enumerate(Tiny.Candidates.Select(c => c.Count).ToArray())
            .Select(c => (Choice: c, Macs: TinySpaces.Macs(Tiny, c))).ToArray();
        var sorted = all.Select(a => a.Macs).Order().ToArray();
        var n = sorted.Length;
        var droppedAbove = false;
        var droppedBelow = false;
        // A low window drops dear candidates; a high one drops cheap ones.
        foreach (var budget in new[]
            {
                new Budget(sorted[n / 20], sorted[n / 40]), new Budget(sorted[n - 1], sorted[n - n / 20]),
            })
        {
            var shrunk = SpaceShrinker.Shrink(Tiny, budget);
            for (var b = 0; b < Tiny.Blocks.Count; b++)
                for (var o = 0; o < Tiny.Candidates[b].Count; o++)
                {
                    var with = all.Where(a => a.Choice[b] == o).ToArray();
                    var expected = with.Any(a => a.Macs <= budget.MaxMacs) && with.Any(a => a.Macs >= budget.MinMacs);
                    var verdict = shrunk.Verdicts[b].Candidates[o];
                    Assert.True(expected == verdict.Kept,
                        $"block {b} {verdict.Op}: kept={verdict.Kept}, expected {expected}");
                    if (verdict.Kept) continue;
                    Assert.NotNull(verdict.DroppedBecause);
                    droppedAbove |= verdict.DroppedBecause!.Contains("cheapest");
                    droppedBelow |= verdict.DroppedBecause!.Contains("dearest");
                }
            Assert.Equal(shrunk.Allowed.Aggregate(System.Numerics.BigInteger.One, (x, a) => x * a.Count),
                shrunk.ShrunkSize);
        }
        // Both pruning rules must have fired, or the test proves nothing.
        Assert.True(droppedAbove && droppedBelow);
    }

    [Fact]
    public void Fixed_blocks_count_once_and_match_brute_force()
    {
        var fixedOps = new Dictionary<int, Operation> { [0] = Operation.Parse("k5e3"), [3] = Operation.Parse("k3e1") };
        var all = TinySpaces.Enumerate(Tiny.Candidates.Select(c => c.Count).ToArray())
            .Where(c => Tiny.Candidates[0][c[0]] == fixedOps[0] && Tiny.Candidates[3][c[3]] == fixedOps[3])
            .Select(c => TinySpaces.Macs(Tiny, c)).ToArray();
        var budget = new Budget(all.Order().ElementAt(all.Length / 2), 0);
        var shrunk = SpaceShrinker.Shrink(Tiny, budget, fixedOps);
        Assert.Equal(all.Length, (int)shrunk.SpaceSize);
        Assert.Equal(all.Count(m => budget.Contains(new Cost(m, 0))), (int)shrunk.ArchitecturesInWindow);
        Assert.Equal([fixedOps[0]], shrunk.Allowed[0]);
        Assert.True(shrunk.Verdicts[0].Fixed);
    }

    [Fact]
    public void Rounded_counting_stays_close_to_exact_and_says_so()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var budget = Budget.FromMFlops(3.0);
        var exact = SpaceShrinker.Shrink(space, budget, countWork: long.MaxValue);
        var rounded = SpaceShrinker.Shrink(space, budget, countWork: 2_000_000);
        Assert.True(exact.CountIsExact);
        Assert.False(rounded.CountIsExact);
        Assert.True(rounded.CountUnits[0] > exact.CountUnits[0]);
        var error = Math.Abs((double)(rounded.ArchitecturesInWindow - exact.ArchitecturesInWindow))
            / (double)exact.ArchitecturesInWindow;
        Assert.True(error < 0.01, $"rounded count off by {error:P2}");
    }

    [Fact]
    public void Impossible_budget_states_the_cheapest_cost()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        var cheapest = space.Costs.Of(space.Cheapest()).Total.MFlops;
        var e = Assert.Throws<SearchSpaceException>(() => SpaceShrinker.Shrink(space, Budget.FromMFlops(50)));
        Assert.Contains($"{cheapest:F2} MFLOPs", e.Message);
        Assert.Contains("impossible budget", e.Message);
    }

    [Fact]
    public void Window_above_the_dearest_architecture_is_an_error()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var e = Assert.Throws<SearchSpaceException>(() => SpaceShrinker.Shrink(space, Budget.FromMFlops(1000)));
        Assert.Contains("most expensive", e.Message);
    }

    [Fact]
    public void Bad_budget_numbers_are_rejected()
    {
        Assert.Throws<SearchSpaceException>(() => Budget.FromMFlops(-1));
        Assert.Throws<SearchSpaceException>(() => Budget.FromMFlops(double.NaN));
        Assert.Throws<SearchSpaceException>(() => Budget.FromMFlops(100, 1.5));
    }

    [Fact]
    public void Imagenet_with_hournas_f_vital_choices_shrinks_the_bulbs()
    {
        var (space, g) = Presets.Resolve("imagenet", "hournas-f");
        var vital = space.VitalBlocks.ToDictionary(b => b, b => g.Blocks[b]);
        var shrunk = SpaceShrinker.Shrink(space, Budget.FromMFlops(400), vital);
        Assert.Equal(BigInteger.Pow(10, 15), shrunk.SpaceSize);
        Assert.True(shrunk.ArchitecturesInWindow > 0);
        Assert.True(shrunk.ShrinkRatio is > 0 and < 1);
        // HourNAS-F itself (383M) lies in [360, 400]: its encoding must be in the window.
        Assert.True(shrunk.InWindow(shrunk.Encode(g)));
    }
}
