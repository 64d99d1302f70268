using System.Globalization;
using System.Text;
using HourNas.Contracts;
using ScottPlot;

namespace HourNas.Coordination.Reports;

/// <summary>
/// A family's retrained networks as a Pareto table and plot: test top-1 against FLOPs (and against measured
/// latency), the members and the preset's hand-designed reference network.
/// </summary>
public static class FamilyReport
{
    /// <summary>
    /// Whether each network lies on the accuracy-FLOPs front: no other network is at least as accurate with at most
    /// its FLOPs and strictly better in one of the two.
    /// </summary>
    public static IReadOnlyList<bool> OnFront(IReadOnlyList<MemberRetrained> networks) =>
        networks.Select(n => !networks.Any(o => !ReferenceEquals(o, n)
            && o.Top1 >= n.Top1 && o.MFlops <= n.MFlops && (o.Top1 > n.Top1 || o.MFlops < n.MFlops))).ToArray();

    public static string ParetoCsv(IReadOnlyList<MemberRetrained> networks)
    {
        var front = OnFront(networks);
        var csv = new StringBuilder("name,budget_mflops,mflops,params,top1,top5,latency_ms,on_front,genotype\n");
        for (var i = 0; i < networks.Count; i++)
        {
            var n = networks[i];
            csv.Append(CultureInfo.InvariantCulture,
                $"{n.Name},{n.BudgetMFlops?.ToString("G", CultureInfo.InvariantCulture) ?? ""},{n.MFlops:F4}," +
                $"{n.Params},{n.Top1:F4},{n.Top5:F4},{n.LatencyMilliseconds:F3},{front[i]},\"{n.Genotype}\"\n");
        }
        return csv.ToString();
    }

    /// <summary>
    /// Test top-1 against FLOPs (or measured latency): the members joined by a line, the reference apart.
    /// </summary>
    public static Plot Pareto(IReadOnlyList<MemberRetrained> networks, bool latency = false)
    {
        double Cost(MemberRetrained n) => latency ? n.LatencyMilliseconds : n.MFlops;
        var plot = new Plot();
        var members = networks.Where(n => n.BudgetMFlops is not null).OrderBy(Cost).ToArray();
        var line = plot.Add.Scatter(members.Select(Cost).ToArray(), members.Select(n => n.Top1 * 100).ToArray());
        line.LegendText = "family members (budgets " +
            string.Join(", ", members.Select(n => n.BudgetMFlops!.Value.ToString("G", CultureInfo.InvariantCulture)))
            + " MFLOPs)";
        line.MarkerSize = 9;
        foreach (var reference in networks.Where(n => n.BudgetMFlops is null))
        {
            double[] x = [Cost(reference)];
            double[] y = [reference.Top1 * 100];
            var point = plot.Add.ScatterPoints(x, y);
            point.MarkerShape = MarkerShape.FilledDiamond;
            point.MarkerSize = 12;
            point.LegendText = $"{reference.Name} (hand-designed, {reference.Top1:P2})";
        }
        plot.Title(latency ? "Family: test top-1 against measured latency" : "Family: test top-1 against FLOPs");
        plot.XLabel(latency ? "latency per image, batch 1 (ms, measured)" : "MFLOPs");
        plot.YLabel("test top-1 (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }
}
