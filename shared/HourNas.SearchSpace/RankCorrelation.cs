namespace HourNas.SearchSpace;

/// <summary>
/// How well one ranking of architectures agrees with another (a supernet's with stand-alone training).
/// </summary>
public static class RankCorrelation
{
    /// <summary>
    /// Kendall's tau-b between two paired samples (ties in either count as neither concordant nor discordant).
    /// </summary>
    public static double KendallTau(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException("samples differ in length");
        long concordant = 0, discordant = 0, tiesA = 0, tiesB = 0;
        for (var i = 0; i < a.Count; i++)
            for (var j = i + 1; j < a.Count; j++)
            {
                var da = Math.Sign(a[i] - a[j]);
                var db = Math.Sign(b[i] - b[j]);
                if (da == 0 && db == 0) continue;
                if (da == 0) tiesA++;
                else if (db == 0) tiesB++;
                else if (da == db) concordant++;
                else discordant++;
            }
        var denominator = Math.Sqrt((double)(concordant + discordant + tiesA) * (concordant + discordant + tiesB));
        return denominator == 0 ? double.NaN : (concordant - discordant) / denominator;
    }

    /// <summary>Spearman's rho: the Pearson correlation of the ranks (ties share their mean rank).</summary>
    public static double SpearmanRho(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException("samples differ in length");
        if (a.Count < 2) return double.NaN;
        var ra = Ranks(a);
        var rb = Ranks(b);
        var ma = ra.Average();
        var mb = rb.Average();
        double cov = 0, va = 0, vb = 0;
        for (var i = 0; i < ra.Length; i++)
        {
            cov += (ra[i] - ma) * (rb[i] - mb);
            va += (ra[i] - ma) * (ra[i] - ma);
            vb += (rb[i] - mb) * (rb[i] - mb);
        }
        return va == 0 || vb == 0 ? double.NaN : cov / Math.Sqrt(va * vb);
    }

    /// <summary>
    /// A percentile bootstrap interval of a paired statistic: the pairs resampled with replacement
    /// <paramref name="resamples"/> times (seeded), the central <paramref name="level"/> of the values that are
    /// defined.
    /// </summary>
    public static (double Low, double High) BootstrapInterval(IReadOnlyList<double> a, IReadOnlyList<double> b,
        Func<IReadOnlyList<double>, IReadOnlyList<double>, double> statistic, ulong seed, int resamples = 2000,
        double level = 0.95)
    {
        if (a.Count != b.Count) throw new ArgumentException("samples differ in length");
        if (a.Count < 2) return (double.NaN, double.NaN);
        var rng = new Rng(seed);
        var values = new List<double>(resamples);
        var xa = new double[a.Count];
        var xb = new double[a.Count];
        for (var r = 0; r < resamples; r++)
        {
            for (var i = 0; i < a.Count; i++)
            {
                var j = rng.NextInt(a.Count);
                xa[i] = a[j];
                xb[i] = b[j];
            }
            var v = statistic(xa, xb);
            if (!double.IsNaN(v)) values.Add(v);
        }
        if (values.Count == 0) return (double.NaN, double.NaN);
        values.Sort();
        double At(double q) => values[(int)Math.Clamp(Math.Floor(q * (values.Count - 1)), 0, values.Count - 1)];
        return (At((1 - level) / 2), At(1 - (1 - level) / 2));
    }

    private static double[] Ranks(IReadOnlyList<double> x)
    {
        var order = Enumerable.Range(0, x.Count).OrderBy(i => x[i]).ToArray();
        var ranks = new double[x.Count];
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && x[order[j + 1]] == x[order[i]]) j++;
            for (var k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return ranks;
    }
}
