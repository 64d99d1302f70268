using System.Diagnostics;
using System.Text.Json;
using OpenTelemetry;

namespace HourNas.ServiceDefaults;

/// <summary>
/// Appends each finished span as one JSON line (trace id, span id, parent, source, name, times, tags) to a file:
/// a trace record that needs no collector, which several processes can share: each batch is appended while holding
/// the file exclusively (.NET takes an advisory lock for FileShare.None), so lines from different processes never
/// mix.
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
                a.TraceId.ToHexString(),
                a.SpanId.ToHexString(),
                a.ParentSpanId == default ? null : a.ParentSpanId.ToHexString(),
                a.Source.Name,
                a.DisplayName,
                a.Kind.ToString(),
                a.StartTimeUtc,
                a.Duration.TotalMilliseconds,
                Environment.ProcessId,
                a.TagObjects.Where(t => t.Value is not null).ToDictionary(t => t.Key, t => t.Value!.ToString()!))));
        }
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            var bytes = System.Text.Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));
            using var stream = OpenExclusive(_path, FileMode.Append, FileAccess.Write);
            stream.Write(bytes);
            return ExportResult.Success;
        }
        catch (IOException)
        {
            return ExportResult.Failure;
        }
    }

    /// <summary>
    /// Opens the file with no sharing, waiting up to five seconds for another process to let go of it.
    /// </summary>
    internal static FileStream OpenExclusive(string path, FileMode mode, FileAccess access)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                return new FileStream(path, mode, access, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline && (mode != FileMode.Open || File.Exists(path)))
            {
                Thread.Sleep(5);
            }
        }
    }
}

/// <summary>One line of <see cref="JsonLinesSpanExporter"/>'s file.</summary>
public sealed record SpanRecord(
    string TraceId, string SpanId, string? ParentSpanId, string Source, string Name, string Kind,
    DateTime Start, double DurationMs, int ProcessId, Dictionary<string, string> Tags)
{
    /// <summary>
    /// Every complete line of the file (a line still being written, without its newline, is left for later).
    /// </summary>
    public static IReadOnlyList<SpanRecord> ReadAll(string path)
    {
        if (!File.Exists(path)) return [];
        string text;
        using (var stream = JsonLinesSpanExporter.OpenExclusive(path, FileMode.Open, FileAccess.Read))
        using (var reader = new StreamReader(stream))
            text = reader.ReadToEnd();
        var complete = text[..(text.LastIndexOf('\n') + 1)];
        return complete.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize<SpanRecord>(l)!)
            .ToArray();
    }
}
