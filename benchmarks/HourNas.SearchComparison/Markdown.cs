using System.Globalization;
using System.Text;
using HourNas.SearchSpace;

namespace HourNas.SearchComparison;

/// <summary>The report as Markdown tables, for docs/results.md.</summary>
public static class Markdown
{
    public static string Render(Report r)
    {
        var md = new StringBuilder();
        void Line(FormattableString s) => md.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"Profile `{r.Profile}`, {r.Utc:yyyy-MM-dd HH:mm} UTC, {r.Cores} cores, budget window [{r.MinMFlops:F2}, {r.BudgetMFlops:F2}] MFLOPs, {r.Runs.Select(x => x.Seed).Distinct().Count()} seeds.");
        md.AppendLine();
        var reference = r.Reference;
        string Pct(double top1) => reference is null ? "-" : $"{100 * reference.Percentile(top1):F0}";
        string Predicted(IEnumerable<double> xs) => xs.Any(double.IsNaN) ? "-" : $"{100 * Statistics.Mean(xs):F2}";
        md.AppendLine("| method | runs | retrained test top-1 (mean ± std) | percentile in the reference window (mean) | predicted (validation) | search seconds (mean ± std) | search images | MFLOPs | params |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var g in Profile.InMethodOrder(r.Runs))
        {
            var pct = reference is null ? "-" : $"{100 * Statistics.Mean(g.Select(x => reference.Percentile(x.Top1))):F0}";
            Line($"| {g.Key} | {g.Count()} | {100 * Statistics.Mean(g.Select(x => x.Top1)):F2} ± {100 * Statistics.Std(g.Select(x => x.Top1)):F2} | {pct} | {Predicted(g.Select(x => x.PredictedAccuracy))} | {Statistics.Mean(g.Select(x => x.SearchSeconds)):F0} ± {Statistics.Std(g.Select(x => x.SearchSeconds)):F0} | {Statistics.Mean(g.Select(x => (double)x.SearchImages)):N0} | {Statistics.Mean(g.Select(x => x.MFlops)):F2} | {Statistics.Mean(g.Select(x => (double)x.Params)):N0} |");
        }
        md.AppendLine();
        if (reference is not null)
        {
            Line($"Percentile: the share of the {reference.InWindowTop1.Count} in-window architectures of `{reference.File}` (stand-alone, {reference.Epochs} epochs, mean of its seeds; {100 * reference.InWindowTop1.Min():F2}-{100 * reference.InWindowTop1.Max():F2}%, mean {100 * reference.InWindowTop1.Average():F2}%) whose top-1 is below the pick's (one retraining, the same recipe).");
            md.AppendLine();
        }
        var hour = r.Runs.Where(x => x.Method == "hournas").ToArray();
        foreach (var other in Profile.InMethodOrder(r.Runs).Where(g => hour.Length > 0 && g.Key != "hournas"))
        {
            var otherSeconds = Statistics.Mean(other.Select(x => x.SearchSeconds));
            var ratio = otherSeconds > 0 ? $"search-cost ratio {Statistics.Mean(hour.Select(x => x.SearchSeconds)) / otherSeconds:F2} (seconds), {Statistics.Mean(hour.Select(x => (double)x.SearchImages)) / Statistics.Mean(other.Select(x => (double)x.SearchImages)):F2} (images)" : "no search cost";
            var welch = hour.Length >= 2 && other.Count() >= 2
                ? Significance.WelchTest(hour.Select(x => x.Top1).ToArray(), other.Select(x => x.Top1).ToArray())
                : (T: double.NaN, DegreesOfFreedom: double.NaN, OneSidedP: double.NaN);
            Line($"HourNAS against {other.Key}: {ratio}; accuracy difference {100 * (Statistics.Mean(hour.Select(x => x.Top1)) - Statistics.Mean(other.Select(x => x.Top1))):+0.00;-0.00} points (Welch t {welch.T:F2}, df {welch.DegreesOfFreedom:F1}, one-sided p {welch.OneSidedP:F3} for \"HourNAS higher\").");
            md.AppendLine();
        }
        md.AppendLine("| seed | method | genotype | MFLOPs | predicted | retrained top-1 | percentile | search s | stages (s) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var x in r.Runs)
            Line($"| {x.Seed} | {x.Method} | `{x.Genotype.Replace("|", "\\|")}` | {x.MFlops:F2} | {Predicted([x.PredictedAccuracy])} | {100 * x.Top1:F2} | {Pct(x.Top1)} | {x.SearchSeconds:F0} | {string.Join(", ", x.Stages.Select(s => $"{s.Stage} {s.Seconds:F0}"))} |");
        md.AppendLine();
        if (r.Rank is null || r.Ablation is null) return md.ToString();
        Line($"Rank correlation (Kendall tau) between supernet-predicted and stand-alone accuracy on {r.Rank.Genotypes.Count} architectures of HourNAS's stage-2 space (seed 1): HourNAS supernet {r.Rank.HourNasTau:F2}, SPOS supernet {r.Rank.SposTau:F2}.");
        md.AppendLine();
        Line($"Vital-block ablation of the `manual` network (baseline test top-1 {100 * r.Ablation.BaselineTop1:F2}%):");
        md.AppendLine();
        md.AppendLine("| block | stage | operation | vital | top-1 with the block disabled | drop (points) |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var b in r.Ablation.Blocks)
            Line($"| {b.Block} | {b.Stage} | {b.Operation} | {(b.Vital ? "yes" : "")} | {100 * b.Top1:F2} | {100 * b.Drop:F2} |");
        return md.ToString();
    }
}
