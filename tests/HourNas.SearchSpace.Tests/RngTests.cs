using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class RngTests
{
    [Fact]
    public void Same_seed_same_stream_and_different_seeds_differ()
    {
        var a = new Rng(42);
        var b = new Rng(42);
        var c = new Rng(43);
        var sa = Enumerable.Range(0, 100).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(sa, Enumerable.Range(0, 100).Select(_ => b.NextUInt64()));
        Assert.NotEqual(sa, Enumerable.Range(0, 100).Select(_ => c.NextUInt64()));
    }

    [Fact]
    public void Restoring_the_state_continues_the_same_stream()
    {
        var rng = new Rng(5);
        for (var i = 0; i < 17; i++) rng.NextDouble();
        var resumed = new Rng(rng.State);
        Assert.Equal(Enumerable.Range(0, 50).Select(_ => rng.NextInt(1000)),
            Enumerable.Range(0, 50).Select(_ => resumed.NextInt(1000)));
    }

    [Fact]
    public void NextInt_is_roughly_uniform()
    {
        var rng = new Rng(9);
        var counts = new int[10];
        for (var i = 0; i < 100_000; i++) counts[rng.NextInt(10)]++;
        // Chi-square with 9 degrees of freedom; 27.9 is the 0.1% critical value.
        var chi = counts.Sum(n => Math.Pow(n - 10_000, 2) / 10_000);
        Assert.True(chi < 27.9, $"chi-square {chi:F1}");
        Assert.All(Enumerable.Range(0, 1000).Select(_ => rng.NextDouble()), x => Assert.InRange(x, 0, 1 - 1e-17));
    }

    [Fact]
    public void NextIndex_follows_the_weights()
    {
        var rng = new Rng(3);
        var counts = new int[3];
        for (var i = 0; i < 60_000; i++) counts[rng.NextIndex([1, 0, 2])]++;
        Assert.Equal(0, counts[1]);
        Assert.InRange(counts[2] / (double)counts[0], 1.9, 2.1);
    }
}

public class RankCorrelationTests
{
    [Fact]
    public void Kendall_tau_counts_concordant_and_discordant_pairs()
    {
        Assert.Equal(1.0, RankCorrelation.KendallTau([1, 2, 3], [10, 20, 30]), 12);
        Assert.Equal(-1.0, RankCorrelation.KendallTau([1, 2, 3], [3, 2, 1]), 12);
        // 7 concordant and 3 discordant pairs of 10.
        Assert.Equal(0.4, RankCorrelation.KendallTau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]), 12);
        // tau-b with a tie in one ranking: C=2, D=0, one pair tied in b only: 2 / sqrt(3 * 2).
        Assert.Equal(2 / Math.Sqrt(6), RankCorrelation.KendallTau([1, 2, 3], [1, 2, 2]), 12);
        Assert.True(double.IsNaN(RankCorrelation.KendallTau([1, 1], [2, 2])));
    }

    [Fact]
    public void Spearman_rho_is_the_correlation_of_ranks_with_ties_averaged()
    {
        Assert.Equal(1.0, RankCorrelation.SpearmanRho([1, 2, 3, 4], [1, 4, 9, 100]), 12);
        // d = (2, -1, -1, 1, -1): rho = 1 - 6 * 8 / (5 * 24) = 0.6.
        Assert.Equal(0.6, RankCorrelation.SpearmanRho([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]), 12);
        // Ties share their mean rank: ranks of b are (1, 2.5, 2.5), Pearson with (1, 2, 3) = sqrt(3) / 2.
        Assert.Equal(Math.Sqrt(3) / 2, RankCorrelation.SpearmanRho([1, 2, 3], [1, 2, 2]), 12);
        Assert.True(double.IsNaN(RankCorrelation.SpearmanRho([1, 2], [5, 5])));
        Assert.True(double.IsNaN(RankCorrelation.SpearmanRho([], [])));
    }

    [Fact]
    public void The_bootstrap_interval_holds_the_estimate_and_narrows_with_more_pairs()
    {
        var rng = new Rng(3);
        double[] Noisy(int n, out double[] truth)
        {
            truth = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
            return truth.Select(t => t + 8 * (rng.NextDouble() - 0.5)).ToArray();
        }
        var small = Noisy(12, out var t12);
        var large = Noisy(200, out var t200);
        var (lo12, hi12) = RankCorrelation.BootstrapInterval(t12, small, RankCorrelation.KendallTau, seed: 1);
        var (lo200, hi200) = RankCorrelation.BootstrapInterval(t200, large, RankCorrelation.KendallTau, seed: 1);
        Assert.InRange(RankCorrelation.KendallTau(t12, small), lo12, hi12);
        Assert.InRange(RankCorrelation.KendallTau(t200, large), lo200, hi200);
        Assert.True(hi200 - lo200 < (hi12 - lo12) / 2, $"[{lo12:F2}, {hi12:F2}] vs [{lo200:F2}, {hi200:F2}]");
        Assert.Equal((lo12, hi12), RankCorrelation.BootstrapInterval(t12, small, RankCorrelation.KendallTau, seed: 1));
    }
}

public class SignificanceTests
{
    [Theory]
    // Student's t table: the 97.5% quantiles for 1, 10 and (nearly) infinite degrees of freedom, and the median.
    [InlineData(12.7062047, 1, 0.025)]
    [InlineData(2.22813885, 10, 0.025)]
    [InlineData(1.95996398, 1e7, 0.025)]
    [InlineData(1.0, 1, 0.25)]
    [InlineData(0.0, 4, 0.5)]
    [InlineData(-2.22813885, 10, 0.975)]
    public void The_t_distribution_tail_matches_the_tables(double t, double df, double upperTail) =>
        Assert.Equal(upperTail, Significance.StudentUpperTail(t, df), 6);

    [Fact]
    public void Welch_test_uses_unequal_variances_and_the_satterthwaite_degrees_of_freedom()
    {
        double[] a = [5, 6, 7, 8, 9];
        double[] b = [2, 4, 6, 8, 10];
        var (t, df, p) = Significance.WelchTest(a, b);
        // means 7 and 6, variances 2.5 and 10: t = 1 / sqrt(0.5 + 2), df = 2.5^2 / (0.5^2 / 4 + 2^2 / 4).
        Assert.Equal(1 / Math.Sqrt(2.5), t, 12);
        Assert.Equal(6.25 / 1.0625, df, 12);
        Assert.Equal(Significance.StudentUpperTail(t, df), p, 12);
        Assert.Equal(1.0, p + Significance.WelchTest(b, a).OneSidedP, 12);
        Assert.InRange(p, 0.2, 0.3);
        Assert.True(Significance.WelchTest([10, 10.1, 9.9, 10.05, 9.95], [9, 9.1, 8.9, 9.05, 8.95]).OneSidedP < 1e-6);
        Assert.Throws<ArgumentException>(() => Significance.WelchTest([1], [1, 2]));
    }
}
