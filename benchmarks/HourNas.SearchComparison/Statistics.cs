namespace HourNas.SearchComparison;

public static class Statistics
{
    public static double Mean(IEnumerable<double> xs) => xs.Average();

    /// <summary>Sample standard deviation (0 for a single value).</summary>
    public static double Std(IEnumerable<double> xs)
    {
        var v = xs.ToArray();
        if (v.Length < 2) return 0;
        var m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1));
    }
}
