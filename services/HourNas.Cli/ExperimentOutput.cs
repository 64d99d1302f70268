using System.Globalization;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.Pipeline;
using Spectre.Console;

namespace HourNas.Cli;

/// <summary>
/// How the CLI shows an experiment: live progress lines, the status table and the final summary.
/// </summary>
internal static class ExperimentOutput
{
    /// <summary>
    /// Writes the progress reports and stage changes not written yet; returns how many reports are now written.
    /// </summary>
    public static int WriteNews(TextWriter error, ExperimentState state, int written, ref string? lastStage)
    {
        foreach (var p in state.Progress.Skip(written))
            error.WriteLine(StageCommand.FormatProgress(
                p.Stage, p.Phase, p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, p.Accuracy, p.ImagesPerSecond,
                p.Seconds));
        var current = $"{state.CurrentStage}:{state.Status}";
        if (current != lastStage)
        {
            error.WriteLine(state.IsFinished
                ? $"experiment {state.Id}: {state.Status}{(state.FailureReason is { } r ? $": {r}" : "")}"
                : $"experiment {state.Id}: {state.CurrentStage} running");
            lastStage = current;
        }
        return state.Progress.Count;
    }

    public static void WriteStatus(IAnsiConsole console, ExperimentState state)
    {
        console.WriteLine(
            $"experiment {state.Id} ({state.Spec?.Preset}, budget " +
            $"{(state.Spec is { } spec ? ExperimentSpecs.DescribeBudget(spec) : "?")}): {state.Status}"
            + (state.FailureReason is { } reason ? $": {reason}" : ""));
        var table = new Table().AddColumns(
            "stage", "status", "attempt", "starts", "resumed from epoch", "seconds", "train images", "eval images",
            "workers");
        foreach (var s in state.Stages)
            table.AddRow(
                s.Stage,
                s.Status.ToString(),
                s.Attempt.ToString(CultureInfo.InvariantCulture),
                s.Starts.ToString(CultureInfo.InvariantCulture),
                s.ResumedFromEpoch.ToString(CultureInfo.InvariantCulture),
                s.Seconds?.ToString("F1", CultureInfo.InvariantCulture) ?? "",
                s.Metrics.GetValueOrDefault(StageMetrics.TrainImages).ToString("N0", CultureInfo.InvariantCulture),
                s.Metrics.GetValueOrDefault(StageMetrics.EvalImages).ToString("N0", CultureInfo.InvariantCulture),
                Markup.Escape(string.Join(' ', s.Workers)));
        console.Write(table);
    }

    public static void WriteSummary(IAnsiConsole console, ExperimentState state, string folder)
    {
        WriteStatus(console, state);
        if (state.Result is not { } r) return;
        if (r.Members.Count > 0)
        {
            WriteFamily(console, state, r.Members, folder);
            return;
        }
        console.WriteLine($"vital blocks:   {string.Join(' ', state.VitalBlocks ?? [])} -> {state.VitalOperations}");
        console.WriteLine(
            $"shrink ratio:   {state.ShrinkRatio:G4} of the space is inside the budget window around the chosen " +
            "vital operations");
        console.WriteLine($"final genotype: {r.Genotype}");
        console.WriteLine(
            $"cost:           {r.MFlops:F2} MFLOPs, {r.Params:N0} params, latency {r.LatencyMilliseconds:F2} ms/image");
        console.WriteLine($"test top-1:     {r.Top1:P2} (top-5 {r.Top5:P2})");
        var search = state.Stages.Where(s => s.Stage != PipelineStages.Retrain).Sum(s => s.Seconds ?? 0);
        console.WriteLine(
            $"search cost:    {search:F0} s (vital blocks, stage 1, shrink, stage 2); " +
            $"retraining {state.Stage(PipelineStages.Retrain)?.Seconds:F0} s");
        console.WriteLine($"output:         {folder}");
    }

    private static void WriteFamily(IAnsiConsole console, ExperimentState state,
        IReadOnlyList<MemberRetrained> networks, string folder)
    {
        var front = Coordination.Reports.FamilyReport.OnFront(networks);
        var table = new Table().AddColumns(
            "network", "budget", "MFLOPs", "params", "test top-1", "latency (ms)", "front", "genotype");
        for (var i = 0; i < networks.Count; i++)
        {
            var n = networks[i];
            table.AddRow(n.Name, n.BudgetMFlops is { } b ? b.ToString("G", CultureInfo.InvariantCulture) : "reference",
                n.MFlops.ToString("F3", CultureInfo.InvariantCulture),
                n.Params.ToString("N0", CultureInfo.InvariantCulture),
                n.Top1.ToString("P2", CultureInfo.InvariantCulture),
                n.LatencyMilliseconds.ToString("F2", CultureInfo.InvariantCulture), front[i] ? "yes" : "",
                Markup.Escape(n.Genotype));
        }
        console.Write(table);
        var search = state.Stages.Where(s => s.Stage != PipelineStages.Retrain).Sum(s => s.Seconds ?? 0);
        console.WriteLine(
            $"search cost:    {search:F0} s for the family (vital blocks, stage 1, shrink, stage 2); " +
            $"retraining {state.Stage(PipelineStages.Retrain)?.Seconds:F0} s");
        console.WriteLine($"output:         {folder} (pareto.csv, pareto.png, one folder per network)");
    }
}
