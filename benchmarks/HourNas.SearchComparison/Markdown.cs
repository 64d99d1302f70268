using System.Globalization;
using System.Text;

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
        md.AppendLine("| method | retrained test top-1 (mean ± std) | predicted (validation) | search seconds (mean ± std) | search images | MFLOPs | params |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var g in Profile.InMethodOrder(r.Runs))
            Line($"| {g.Key} | {100 * Statistics.Mean(g.Select(x => x.Top1)):F2} ± {100 * Statistics.Std(g.Select(x => x.Top1)):F2} | {100 * Statistics.Mean(g.Select(x => x.PredictedAccuracy)):F2} | {Statistics.Mean(g.Select(x => x.SearchSeconds)):F0} ± {Statistics.Std(g.Select(x => x.SearchSeconds)):F0} | {Statistics.Mean(g.Select(x => (double)x.SearchImages)):N0} | {Statistics.Mean(g.Select(x => x.MFlops)):F2} | {Statistics.Mean(g.Select(x => (double)x.Params)):N0} |");
        md.AppendLine();
        var hour = r.Runs.Where(x => x.Method == "hournas").ToArray();
        foreach (var other in Profile.InMethodOrder(r.Runs).Where(g => hour.Length > 0 && g.Key != "hournas"))
        {
            Line($"HourNAS against {other.Key}: search-cost ratio {Statistics.Mean(hour.Select(x => x.SearchSeconds)) / Statistics.Mean(other.Select(x => x.SearchSeconds)):F2} (seconds), {Statistics.Mean(hour.Select(x => (double)x.SearchImages)) / Statistics.Mean(other.Select(x => (double)x.SearchImages)):F2} (images); accuracy difference {100 * (Statistics.Mean(hour.Select(x => x.Top1)) - Statistics.Mean(other.Select(x => x.Top1))):+0.00;-0.00} points.");
            md.AppendLine();
        }
        md.AppendLine("| seed | method | genotype | MFLOPs | predicted | retrained top-1 | search s | stages (s) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var x in r.Runs)
            Line($"| {x.Seed} | {x.Method} | `{x.Genotype.Replace("|", "\\|")}` | {x.MFlops:F2} | {100 * x.PredictedAccuracy:F2} | {100 * x.Top1:F2} | {x.SearchSeconds:F0} | {string.Join(", ", x.Stages.Select(s => $"{s.Stage} {s.Seconds:F0}"))} |");
        md.AppendLine();
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
