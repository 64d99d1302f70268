using System.Text;
using HourNas.SearchSpace;

namespace HourNas.SearchComparison;

/// <summary>The report as Markdown tables, for docs/results.md.</summary>
public static class Markdown
{
    public static string Render(Report r)
    {
        var md = new StringBuilder();
        // Numbers format invariantly: the projects build with InvariantGlobalization (Directory.Build.props).
        void Line(string s) => md.AppendLine(s);
        void Row(params string[] cells) => md.AppendLine("| " + string.Join(" | ", cells) + " |");
        void Header(params string[] names)
        {
            md.AppendLine("| " + string.Join(" | ", names) + " |");
            md.AppendLine("|" + string.Concat(names.Select(_ => "---|")));
        }
        static double Mean(IEnumerable<double> xs) => Statistics.Mean(xs);
        static double Std(IEnumerable<double> xs) => Statistics.Std(xs);

        Line($"Profile `{r.Profile}`, {r.Utc:yyyy-MM-dd HH:mm} UTC, {r.Cores} cores, budget window " +
            $"[{r.MinMFlops:F2}, {r.BudgetMFlops:F2}] MFLOPs, {r.Runs.Select(x => x.Seed).Distinct().Count()} seeds.");
        md.AppendLine();
        var reference = r.Reference;
        string Pct(double top1) => reference is null ? "-" : $"{100 * reference.Percentile(top1):F0}";
        string Predicted(IEnumerable<double> xs) => xs.Any(double.IsNaN) ? "-" : $"{100 * Mean(xs):F2}";
        Header("method", "runs", "retrained test top-1 (mean ± std)", "percentile in the reference window (mean)",
            "predicted (validation)", "search seconds (mean ± std)", "search images", "MFLOPs", "params");
        foreach (var g in Profile.InMethodOrder(r.Runs))
        {
            var pct = reference is null ? "-" : $"{100 * Mean(g.Select(x => reference.Percentile(x.Top1))):F0}";
            var top1 = g.Select(x => x.Top1).ToArray();
            var seconds = g.Select(x => x.SearchSeconds).ToArray();
            Row($"{g.Key}", $"{g.Count()}", $"{100 * Mean(top1):F2} ± {100 * Std(top1):F2}", $"{pct}",
                $"{Predicted(g.Select(x => x.PredictedAccuracy))}", $"{Mean(seconds):F0} ± {Std(seconds):F0}",
                $"{Mean(g.Select(x => (double)x.SearchImages)):N0}", $"{Mean(g.Select(x => x.MFlops)):F2}",
                $"{Mean(g.Select(x => (double)x.Params)):N0}");
        }
        md.AppendLine();
        if (reference is not null)
        {
            var inWindow = reference.InWindowTop1;
            Line($"Percentile: the share of the {inWindow.Count} in-window architectures of `{reference.File}` " +
                $"(stand-alone, {reference.Epochs} epochs, mean of its seeds; {100 * inWindow.Min():F2}-" +
                $"{100 * inWindow.Max():F2}%, mean {100 * inWindow.Average():F2}%) whose top-1 is below the pick's " +
                "(one retraining, the same recipe).");
            md.AppendLine();
        }
        var hour = r.Runs.Where(x => x.Method == "hournas").ToArray();
        foreach (var other in Profile.InMethodOrder(r.Runs).Where(g => hour.Length > 0 && g.Key != "hournas"))
        {
            var otherSeconds = Mean(other.Select(x => x.SearchSeconds));
            var imageRatio = Mean(hour.Select(x => (double)x.SearchImages))
                / Mean(other.Select(x => (double)x.SearchImages));
            var ratio = otherSeconds > 0
                ? $"search-cost ratio {Mean(hour.Select(x => x.SearchSeconds)) / otherSeconds:F2} (seconds), " +
                    $"{imageRatio:F2} (images)"
                : "no search cost";
            var welch = hour.Length >= 2 && other.Count() >= 2
                ? Significance.WelchTest(hour.Select(x => x.Top1).ToArray(), other.Select(x => x.Top1).ToArray())
                : (T: double.NaN, DegreesOfFreedom: double.NaN, OneSidedP: double.NaN);
            var difference = 100 * (Mean(hour.Select(x => x.Top1)) - Mean(other.Select(x => x.Top1)));
            Line($"HourNAS against {other.Key}: {ratio}; accuracy difference {difference:+0.00;-0.00} points " +
                $"(Welch t {welch.T:F2}, df {welch.DegreesOfFreedom:F1}, one-sided p {welch.OneSidedP:F3} " +
                "for \"HourNAS higher\").");
            md.AppendLine();
        }
        Header("seed", "method", "genotype", "MFLOPs", "predicted", "retrained top-1", "percentile", "search s",
            "stages (s)");
        foreach (var x in r.Runs)
        {
            var stages = string.Join(", ",
                x.Stages.Select(s => $"{s.Stage} {s.Seconds:F0}"));
            Row($"{x.Seed}", $"{x.Method}", $"`{x.Genotype.Replace("|", "\\|")}`", $"{x.MFlops:F2}",
                $"{Predicted([x.PredictedAccuracy])}", $"{100 * x.Top1:F2}", $"{Pct(x.Top1)}", $"{x.SearchSeconds:F0}",
                $"{stages}");
        }
        md.AppendLine();
        if (r.Rank is null || r.Ablation is null) return md.ToString();
        Line($"Rank correlation (Kendall tau) between supernet-predicted and stand-alone accuracy on " +
            $"{r.Rank.Genotypes.Count} architectures of HourNAS's stage-2 space (seed 1): HourNAS supernet " +
            $"{r.Rank.HourNasTau:F2}, SPOS supernet {r.Rank.SposTau:F2}.");
        md.AppendLine();
        Line($"Vital-block ablation of the `manual` network (baseline test top-1 " +
            $"{100 * r.Ablation.BaselineTop1:F2}%):");
        md.AppendLine();
        Header("block", "stage", "operation", "vital", "top-1 with the block disabled", "drop (points)");
        foreach (var b in r.Ablation.Blocks)
            Row($"{b.Block}", $"{b.Stage}", $"{b.Operation}", $"{(b.Vital ? "yes" : "")}", $"{100 * b.Top1:F2}",
                $"{100 * b.Drop:F2}");
        return md.ToString();
    }
}
