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
        Assert.Equal(Enumerable.Range(0, 50).Select(_ => rng.NextInt(1000)), Enumerable.Range(0, 50).Select(_ => resumed.NextInt(1000)));
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
}
