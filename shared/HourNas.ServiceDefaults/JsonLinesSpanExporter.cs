using System.Diagnostics;
using System.Text.Json;
using OpenTelemetry;

namespace HourNas.ServiceDefaults;

/// <summary>
/// Appends each finished span as one JSON line (trace id, span id, parent, source, name, times, tags) to a file:
/// a trace record that needs no collector, which several processes can share (each line is one locked append).
/// </summary>
public sealed class JsonLinesSpanExporter(string path) : BaseExporter<Activity>
{
    private readonly string _path = Path.GetFullPath(path);

    public override ExportResult Export(in Batch<Activity> batch)
    {
        var lines = new List<string>();
        foreach (var a in batch)
        {
            lines.Add(JsonSerializer.Serialize(new SpanRecord(
                a.TraceId.ToHexString(), a.SpanId.ToHexString(), a.ParentSpanId == default ? null : a.ParentSpanId.ToHexString(),
                a.Source.Name, a.DisplayName, a.Kind.ToString(), a.StartTimeUtc, a.Duration.TotalMilliseconds, Environment.ProcessId,
                a.TagObjects.Where(t => t.Value is not null).ToDictionary(t => t.Key, t => t.Value!.ToString()!))));
        }
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            using var writer = new StreamWriter(stream);
            foreach (var line in lines) writer.WriteLine(line);
            return ExportResult.Success;
        }
        catch (IOException)
        {
            return ExportResult.Failure;
        }
    }
}

/// <summary>One line of <see cref="JsonLinesSpanExporter"/>'s file.</summary>
public sealed record SpanRecord(string TraceId, string SpanId, string? ParentSpanId, string Source, string Name, string Kind,
    DateTime Start, double DurationMs, int ProcessId, Dictionary<string, string> Tags)
{
    public static IReadOnlyList<SpanRecord> ReadAll(string path) => File.Exists(path)
        ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<SpanRecord>(l)!).ToArray()
        : [];
}
