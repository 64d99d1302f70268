using System.Text.Json;
using HourNas.SearchSpace;

namespace HourNas.SearchComparison;

/// <summary>
/// The stand-alone test top-1 (mean over seeds) of the committed reference set's in-window architectures
/// (benchmarks/HourNas.RankStudy), so a method's pick can be placed among architectures a user could have drawn.
/// </summary>
public sealed record ReferenceAccuracies(string File, double WindowMinMFlops, double WindowMaxMFlops, int Epochs,
    string Recipe, IReadOnlyList<double> InWindowTop1)
{
    /// <summary>
    /// The table, or null (with the reason on stderr) when it was made for another window or recipe length.
    /// </summary>
    public static ReferenceAccuracies? Load(string path, Budget budget, int retrainEpochs)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(path));
        var root = doc.RootElement;
        var (low, high) = (root.GetProperty("windowMinMFlops").GetDouble(),
            root.GetProperty("windowMaxMFlops").GetDouble());
        if (Math.Abs(low - budget.MinMFlops!.Value) > 1e-9 || Math.Abs(high - budget.MaxMFlops!.Value) > 1e-9)
        {
            Console.Error.WriteLine($"{path}: window [{low}, {high}] is not the budget's; no percentiles");
            return null;
        }
        if (root.GetProperty("epochs").GetInt32() != retrainEpochs)
        {
            Console.Error.WriteLine(
                $"{path}: trained for {root.GetProperty("epochs")} epochs, picks for {retrainEpochs}; no percentiles");
            return null;
        }
        var top1 = root.GetProperty("architectures").EnumerateArray()
            .Where(a => a.GetProperty("inWindow").GetBoolean())
            .Select(a => a.GetProperty("runs").EnumerateArray().Average(r => r.GetProperty("top1").GetDouble()))
            .Order().ToArray();
        return new ReferenceAccuracies(path, low, high, root.GetProperty("epochs").GetInt32(),
            root.GetProperty("recipe").GetString() ?? "", top1);
    }

    /// <summary>
    /// The share of the in-window reference architectures below <paramref name="top1"/> (ties count half).
    /// </summary>
    public double Percentile(double top1) =>
        (InWindowTop1.Count(x => x < top1) + 0.5 * InWindowTop1.Count(x => x == top1)) / InWindowTop1.Count;
}
