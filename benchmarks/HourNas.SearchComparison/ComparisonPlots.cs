using HourNas.Coordination.Reports;
using ScottPlot;

namespace HourNas.SearchComparison;

/// <summary>
/// The comparison's plots: retrained accuracy against search cost, and against FLOPs, one point per run.
/// </summary>
public static class ComparisonPlots
{
    public static IReadOnlyList<string> Write(Report report, string folder, string stem)
    {
        var written = new List<string>();
        written.AddRange(Plots.Save(Scatter(report, r => r.SearchSeconds, "search cost (seconds on 2 CPU cores)",
            $"Retrained test top-1 vs search cost ({report.Profile} profile)"), folder, stem + "-accuracy-vs-cost"));
        written.AddRange(Plots.Save(Scatter(report, r => r.MFlops, "MFLOPs of the final network",
            $"Retrained test top-1 vs FLOPs ({report.Profile} profile, " +
            $"window [{report.MinMFlops:F2}, {report.BudgetMFlops:F2}])"), folder, stem + "-accuracy-vs-flops"));
        return written;
    }

    private static Plot Scatter(Report report, Func<RunRecord, double> x, string xLabel, string title)
    {
        var plot = new Plot();
        foreach (var method in Profile.InMethodOrder(report.Runs))
        {
            var points = plot.Add.ScatterPoints(method.Select(x).ToArray(), method.Select(r => r.Top1 * 100).ToArray());
            points.MarkerSize = 10;
            points.LegendText = method.Key;
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("retrained test top-1 (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }
}
