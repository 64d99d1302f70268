using System.Text.Json;
using System.Text.Json.Nodes;
using HourNas.Contracts;
using HourNas.Experiments;
using ScottPlot;

namespace HourNas.Coordination.Reports;

/// <summary>One experiment's line in a comparison: its outcome and each stage's seconds.</summary>
public sealed record ComparedExperiment(
    string Id, string Preset, ExperimentStatus Status, string? Genotype, double? Top1, double? Top5, double? MFlops,
    long? Params, double? LatencyMilliseconds, double SearchSeconds, double? RetrainSeconds,
    IReadOnlyDictionary<string, double?> StageSeconds);

/// <summary>
/// Experiments side by side (<c>hournas compare</c>, <c>/ui/compare</c>): the spec fields that differ between
/// them, each one's stage costs and result, and one accuracy-against-FLOPs plot.
/// </summary>
public sealed record ExperimentComparison(
    IReadOnlyList<ComparedExperiment> Experiments,
    IReadOnlyDictionary<string, IReadOnlyList<string?>> SpecDifferences)
{
    /// <summary>The most experiments one comparison takes (a page and a plot stay readable).</summary>
    public const int MaxExperiments = 20;

    public static ExperimentComparison Of(IReadOnlyList<ExperimentState> states)
    {
        if (states.Count is 0 or > MaxExperiments)
            throw new ArgumentException($"compare takes 1 to {MaxExperiments} experiments, not {states.Count}");
        var now = DateTimeOffset.UtcNow;
        var experiments = states.Select(s =>
        {
            var seconds = PipelineStages.Sequence.ToDictionary(d => d.Name,
                d => s.Stage(d.Name) is { } stage ? (double?)stage.SecondsAt(now) : null);
            return new ComparedExperiment(s.Id, s.Spec?.Preset ?? "", s.Status, s.Result?.Genotype ?? s.Genotype,
                s.Result?.Top1, s.Result?.Top5, s.Result?.MFlops, s.Result?.Params, s.Result?.LatencyMilliseconds,
                seconds.Where(x => x.Key != PipelineStages.Retrain).Sum(x => x.Value ?? 0),
                seconds[PipelineStages.Retrain], seconds);
        }).ToArray();
        return new ExperimentComparison(experiments, Differences(states));
    }

    /// <summary>Every spec field whose value is not the same in all the experiments, with each one's value.</summary>
    private static IReadOnlyDictionary<string, IReadOnlyList<string?>> Differences(
        IReadOnlyList<ExperimentState> states)
    {
        var specs = states.Select(s => s.Spec is null
            ? new JsonObject()
            : JsonSerializer.SerializeToNode(s.Spec, PipelineJson.Options)!.AsObject()).ToArray();
        var fields = specs.SelectMany(o => o.Select(p => p.Key)).Distinct().Order(StringComparer.Ordinal);
        var differences = new SortedDictionary<string, IReadOnlyList<string?>>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            var values = specs.Select(o => o[field]?.ToJsonString()).ToArray();
            if (values.Distinct().Count() > 1) differences[field] = values;
        }
        return differences;
    }

    /// <summary>Test top-1 against MFLOPs, one labelled point per finished experiment.</summary>
    public Plot AccuracyVsFlops()
    {
        var plot = new Plot();
        foreach (var e in Experiments.Where(e => e.Top1 is not null && e.MFlops is not null))
        {
            var point = plot.Add.ScatterPoints(new[] { e.MFlops!.Value }, new[] { e.Top1!.Value * 100 });
            point.MarkerSize = 10;
            point.LegendText = $"{e.Id} ({e.MFlops:F2} MFLOPs, {e.Top1:P2})";
        }
        plot.Title("Test top-1 against FLOPs");
        plot.XLabel("MFLOPs");
        plot.YLabel("test top-1 (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }
}
