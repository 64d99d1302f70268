using System.Globalization;
using System.Text;
using System.Text.Json;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using ScottPlot;

namespace HourNas.Coordination.Reports;

/// <summary>
/// The files a finished experiment leaves at the top of its folder: experiment.json (the whole record), stages.csv
/// (cost per stage), progress.csv (every progress report), the final genotype and weights, and the plots as PNG and
/// SVG: training curves, accuracy vs FLOPs of every candidate the searches scored, and the block ablation. A family
/// adds pareto.csv and pareto.png (pareto-latency.png with a latency table) and one folder of model files per
/// network.
/// </summary>
public static class ExperimentReport
{
    public static IReadOnlyList<string> Write(ExperimentState state, ArtifactStore store)
    {
        var folder = store.ExperimentFolder(state.Id);
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        string Put(string name, string text)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllText(path, text);
            written.Add(path);
            return path;
        }

        Put("experiment.json", JsonSerializer.Serialize(state, PipelineJson.Options));
        Put("stages.csv", StagesCsv(state));
        Put("progress.csv", ProgressCsv(state));
        // The retrained model's files (HourNas.Engine.Export.ModelFiles and the card); a family's per network.
        var family = state.Result?.Members ?? [];
        var retrained = store.StageFolder(state.Id, PipelineStages.Retrain);
        // The names come in an event: only plain names (member-1, manual) become folders.
        foreach (var network in family.Count > 0 ? family.Select(n => n.Name).Where(IsPlainName) : [""])
        {
            var target = Path.Combine(folder, network);
            Directory.CreateDirectory(target);
            foreach (var name in ModelFileNames)
            {
                var source = Path.Combine(retrained, network, name);
                if (!File.Exists(source)) continue;
                File.Copy(source, Path.Combine(target, name), overwrite: true);
                written.Add(Path.Combine(target, name));
            }
        }
        if (family.Count > 0)
        {
            Put("pareto.csv", FamilyReport.ParetoCsv(family));
            written.AddRange(Plots.Save(FamilyReport.Pareto(family), folder, "pareto"));
            if (state.Spec?.LatencyTable is not null)
                written.AddRange(Plots.Save(FamilyReport.Pareto(family, latency: true), folder, "pareto-latency"));
        }

        written.AddRange(Plots.Save(TrainingCurves(state), folder, "training-curves"));
        if (Candidates(store, state.Id) is { Count: > 0 } candidates)
            written.AddRange(Plots.Save(AccuracyVsFlops(candidates, state), folder, "accuracy-vs-flops"));
        if (state.Result?.Ablation is { Count: > 0 } ablation)
            written.AddRange(Plots.Save(AblationBars(ablation), folder, "ablation"));
        return written;
    }

    private static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 32 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    private static readonly string[] ModelFileNames =
        ["genotype.json", "model.json", "model.onnx", "weights.dat", "weights.pth"];

    public static string StagesCsv(ExperimentState state)
    {
        var csv = new StringBuilder(
            "stage,status,attempt,starts,resumed_from_epoch,seconds,train_images,eval_images,workers\n");
        foreach (var s in state.Stages)
        {
            var m = s.Metrics;
            csv.Append(CultureInfo.InvariantCulture,
                $"{s.Stage},{s.Status},{s.Attempt},{s.Starts},{s.ResumedFromEpoch},{s.Seconds:F1}," +
                $"{m.GetValueOrDefault(StageMetrics.TrainImages)},{m.GetValueOrDefault(StageMetrics.EvalImages)}," +
                $"\"{string.Join(' ', s.Workers)}\"\n");
        }
        return csv.ToString();
    }

    public static string ProgressCsv(ExperimentState state)
    {
        var csv = new StringBuilder("stage,phase,epoch,step,steps,loss,accuracy,images_per_second,seconds,at\n");
        foreach (var p in state.Progress)
            csv.Append(CultureInfo.InvariantCulture,
                $"{p.Stage},{p.Phase},{p.Epoch},{p.Step},{p.Steps},{p.Loss:G6},{p.Accuracy:G6}," +
                $"{p.ImagesPerSecond:F1},{p.Seconds:F2},{p.At:O}\n");
        return csv.ToString();
    }

    /// <summary>
    /// Every candidate stage 2 scored, from its <c>result.json</c> (a family's: every member's, in member-N folders;
    /// stage 1's are necks, partial networks, and are not plotted). Read as a file format, so the coordinator needs
    /// no engine.
    /// </summary>
    public static IReadOnlyList<ScoredCandidate> Candidates(ArtifactStore store, string experimentId)
    {
        var stage = store.StageFolder(experimentId, PipelineStages.NonVitalSearch);
        if (!Directory.Exists(stage)) return [];
        var files = new[] { Path.Combine(stage, "result.json") }
            .Concat(Directory.EnumerateDirectories(stage, "member-*").Order(StringComparer.Ordinal)
                .Select(d => Path.Combine(d, "result.json")));
        return files.Where(File.Exists)
            .SelectMany(f => JsonSerializer.Deserialize<SearchResultFile>(File.ReadAllText(f), ResultJson)?.Evaluated
                ?? [])
            .ToArray();
    }

    private static readonly JsonSerializerOptions ResultJson = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed record SearchResultFile(IReadOnlyList<ScoredCandidate>? Evaluated);

    public static Plot TrainingCurves(ExperimentState state)
    {
        var plot = new Plot();
        foreach (var stage in state.Progress.Where(p => p.Phase == ProgressPhases.Train).GroupBy(p => p.Stage))
        {
            var points = stage.Where(p => p.Steps > 0 && double.IsFinite(p.Loss)).ToArray();
            if (points.Length == 0) continue;
            var x = points.Select(p => p.Epoch - 1 + (double)p.Step / p.Steps).ToArray();
            var line = plot.Add.Scatter(x, points.Select(p => p.Accuracy * 100).ToArray());
            line.LegendText = $"{stage.Key} training top-1";
        }
        plot.Title("Training curves (running top-1 within each epoch)");
        plot.XLabel("epoch");
        plot.YLabel("training top-1 (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    public static Plot AccuracyVsFlops(IReadOnlyList<ScoredCandidate> candidates, ExperimentState state)
    {
        var plot = new Plot();
        var all = plot.Add.ScatterPoints(
            candidates.Select(c => c.MFlops).ToArray(), candidates.Select(c => c.Accuracy * 100).ToArray());
        all.LegendText = "candidates (supernet validation top-1)";
        var chosen = state.Result is not { } result ? []
            : result.Members.Count > 0
                ? result.Members.Where(m => m.BudgetMFlops is not null).Select(m => (m.Genotype, m.MFlops, m.Top1))
                : [(result.Genotype, result.MFlops, result.Top1)];
        foreach (var (genotype, mflops, top1) in chosen)
        {
            double[] x = [mflops];
            double[] y =
            [
                candidates.Where(c => c.Genotype == genotype)
                    .Select(c => c.Accuracy * 100)
                    .DefaultIfEmpty(double.NaN)
                    .Max(),
            ];
            var final = plot.Add.ScatterPoints(x, y);
            final.MarkerSize = 12;
            final.MarkerShape = MarkerShape.FilledDiamond;
            final.LegendText = $"chosen ({mflops:F2} MFLOPs, test top-1 {top1:P2})";
        }
        plot.Title("Stage 2: accuracy vs FLOPs of the scored architectures");
        plot.XLabel("MFLOPs");
        plot.YLabel("validation top-1 with supernet weights (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    public static Plot AblationBars(IReadOnlyList<BlockAblation> ablation)
    {
        var plot = new Plot();
        var bars = ablation.Select((b, i) => new Bar
        {
            Position = i,
            Value = b.Drop * 100,
            FillColor = b.Vital ? Colors.FireBrick : Colors.SteelBlue,
        }).ToArray();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(ablation.Select((_, i) => (double)i).ToArray(),
            ablation.Select(b => $"{b.Block}{(b.Vital ? " (vital)" : "")}").ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title("Top-1 drop when one block is disabled (red: vital)");
        plot.XLabel("block");
        plot.YLabel("accuracy drop (points)");
        return plot;
    }

    /// <summary>
    /// Each stage as a bar from its start to its end (to now while it runs), in seconds since submission.
    /// </summary>
    public static Plot StageTimeline(ExperimentState state, DateTimeOffset now)
    {
        var plot = new Plot();
        var bars = state.Stages.Select((s, i) => new Bar
        {
            Position = i,
            ValueBase = (s.StartedAt - state.SubmittedAt).TotalSeconds,
            Value = ((s.EndedAt ?? now) - state.SubmittedAt).TotalSeconds,
            FillColor = s.Status switch
            {
                StageStatus.Completed => Colors.SeaGreen,
                StageStatus.Running => Colors.SteelBlue,
                _ => Colors.FireBrick,
            },
        }).ToArray();
        plot.Add.Bars(bars).Horizontal = true;
        plot.Axes.Left.SetTicks(
            state.Stages.Select((_, i) => (double)i).ToArray(),
            state.Stages.Select(s => $"{s.Stage} ({s.Status})").ToArray());
        plot.Axes.InvertY();
        plot.Title("Stages (green: completed, blue: running, red: failed or cancelled)");
        plot.XLabel("seconds since submission");
        return plot;
    }
}

/// <summary>One architecture a search scored with supernet weights (a line of its <c>result.json</c>).</summary>
public sealed record ScoredCandidate(string Genotype, double MFlops, long Params, double Accuracy, int Generation);
