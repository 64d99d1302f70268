using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HourNas.Workers;

/// <summary>One trace source per stage service, and the stage-duration metric.</summary>
public static class StageTelemetry
{
    public static readonly ActivitySource VitalBlocks = new("HourNas.VitalBlocks");
    public static readonly ActivitySource SpaceShrinking = new("HourNas.SpaceShrinking");
    public static readonly ActivitySource SupernetTraining = new("HourNas.SupernetTraining");
    public static readonly ActivitySource Retraining = new("HourNas.Retraining");

    private static readonly Meter Meter = new("HourNas.Pipeline");
    private static readonly Histogram<double> Duration =
        Meter.CreateHistogram<double>("hournas.stage.duration", "s", "wall time of a stage run on a worker");

    public static void RecordDuration(string stage, double seconds, string outcome) =>
        Duration.Record(
            seconds,
            new KeyValuePair<string, object?>("hournas.stage", stage),
            new KeyValuePair<string, object?>("hournas.outcome", outcome));
}
