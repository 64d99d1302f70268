using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HourNas.Engine.Training;

/// <summary>
/// Spans and metrics of training, on plain System.Diagnostics (no exporter here: the host decides where they go).
/// Each epoch is a span under whatever span is current, the stage's span when a pipeline worker runs it.
/// </summary>
public static class Telemetry
{
    public static readonly ActivitySource Training = new("HourNas.Training");

    public static readonly Meter Meter = new("HourNas.Training");

    private static readonly Histogram<double> ImagesPerSecond = Meter.CreateHistogram<double>(
        "hournas.training.images_per_second", "{image}/s", "training throughput per epoch");
    private static readonly Histogram<double> Loss = Meter.CreateHistogram<double>(
        "hournas.training.loss", null, "mean training loss per epoch");
    private static readonly Histogram<double> Accuracy = Meter.CreateHistogram<double>(
        "hournas.training.accuracy", null, "training top-1 per epoch");

    public static void RecordEpoch(string stage, double loss, double accuracy, double imagesPerSecond)
    {
        var tag = new KeyValuePair<string, object?>("hournas.stage", stage);
        ImagesPerSecond.Record(imagesPerSecond, tag);
        Loss.Record(loss, tag);
        Accuracy.Record(accuracy, tag);
    }
}
