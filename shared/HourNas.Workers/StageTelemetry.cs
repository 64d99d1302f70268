using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using HourNas.Contracts;

namespace HourNas.Workers;

/// <summary>
/// One trace source per stage service, and the worker's metrics: the duration of each stage run, and live gauges of
/// the stages running now (what a monitoring system scrapes from <c>/metrics</c>, docs/pipeline.md).
/// </summary>
public static class StageTelemetry
{
    public static readonly ActivitySource VitalBlocks = new("HourNas.VitalBlocks");
    public static readonly ActivitySource SpaceShrinking = new("HourNas.SpaceShrinking");
    public static readonly ActivitySource SupernetTraining = new("HourNas.SupernetTraining");
    public static readonly ActivitySource Retraining = new("HourNas.Retraining");

    private static readonly Meter Meter = new("HourNas.Pipeline");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>(
        "hournas.stage.duration", "s", "wall time of a stage run on a worker, from taking the command to its end",
        // Stages run from seconds (smoke) to hours (ImageNet): the default buckets stop at 10 s.
        advice: new InstrumentAdvice<double>
        {
            HistogramBucketBoundaries = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
        });
    private static readonly Counter<long> Candidates = Meter.CreateCounter<long>(
        "hournas.search.candidates", "{candidate}", "candidate architectures scored by the search stages");
    private static readonly ConcurrentDictionary<RunningStage, bool> Runs = new();

    static StageTelemetry()
    {
        Gauge("hournas.stage.running", null, "1 for each stage this worker runs now", _ => 1);
        Gauge("hournas.stage.loss", null, "training loss of the last report of the running stage", r => r.Loss);
        Gauge("hournas.stage.accuracy", null, "training top-1 of the last report of the running stage",
            r => r.Accuracy);
        Gauge("hournas.stage.images_per_second", "{image}/s", "training throughput of the running stage",
            r => r.ImagesPerSecond);
        Gauge("hournas.stage.progress", null, "fraction of the running stage's epochs and steps done", r => r.Done);
        Gauge("hournas.stage.since_progress", "s", "seconds since the running stage last reported progress",
            r => r.SinceProgress.Elapsed.TotalSeconds);
    }

    public static void RecordDuration(string experiment, string stage, double seconds, string outcome) =>
        Duration.Record(seconds, Tag("hournas.experiment", experiment), Tag("hournas.stage", stage),
            Tag("hournas.outcome", outcome));

    /// <summary>Registers a stage this worker runs; its gauges go away when the registration is disposed.</summary>
    public static RunningStage Running(string experiment, string stage)
    {
        var run = new RunningStage(experiment, stage);
        Runs[run] = true;
        return run;
    }

    private static void Gauge(string name, string? unit, string description, Func<RunningStage, double> value) =>
        Meter.CreateObservableGauge(name, () => Runs.Keys
            .Select(r => (Run: r, Value: value(r)))
            .Where(m => double.IsFinite(m.Value))
            .Select(m => new Measurement<double>(m.Value, Tag("hournas.experiment", m.Run.Experiment),
                Tag("hournas.stage", m.Run.Stage))), unit, description);

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    /// <summary>A stage run in progress: the last figures it reported.</summary>
    public sealed class RunningStage(string experiment, string stage) : IDisposable
    {
        public string Experiment { get; } = experiment;
        public string Stage { get; } = stage;
        public double Loss { get; private set; } = double.NaN;
        public double Accuracy { get; private set; } = double.NaN;
        public double ImagesPerSecond { get; private set; } = double.NaN;
        public double Done { get; private set; }
        public Stopwatch SinceProgress { get; } = Stopwatch.StartNew();

        public void Report(StageProgressed p)
        {
            SinceProgress.Restart();
            if (p.Phase == ProgressPhases.Search) Candidates.Add(1, Tag("hournas.stage", Stage));
            if (p.Phase is ProgressPhases.Train or ProgressPhases.Epoch)
            {
                if (double.IsFinite(p.Loss)) Loss = p.Loss;
                if (double.IsFinite(p.Accuracy)) Accuracy = p.Accuracy;
                if (p.ImagesPerSecond > 0) ImagesPerSecond = p.ImagesPerSecond;
            }
            if (ProgressPhases.Fraction(p.Epoch, p.Epochs, p.Step, p.Steps) is var done && double.IsFinite(done))
                Done = done;
        }

        public void Dispose() => Runs.TryRemove(this, out _);
    }
}
