namespace HourNas.SearchSpace;

/// <summary>How well one ranking of architectures agrees with another (a supernet's with stand-alone training).</summary>
public static class RankCorrelation
{
    /// <summary>Kendall's tau-b between two paired samples (ties in either count as neither concordant nor discordant).</summary>
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
}
