using System.Text.Json;
using System.Text.Json.Serialization;

namespace HourNas.SearchSpace;

/// <summary>Where and how a latency table was measured; a latency budget must match it.</summary>
public sealed record LatencyConditions(string Device, int BatchSize, int Threads, string Machine, int Cores,
    int Warmup, int Repeats);

/// <summary>The measured latency of one candidate operation of one block, median of the repeats.</summary>
public sealed record OperationLatency(string Op, double Nanoseconds);

public sealed record BlockLatencies(int Block, IReadOnlyList<OperationLatency> Ops);

/// <summary>
/// What a whole network costs beyond the sum of its parts measured alone, fitted on random networks: a constant and
/// an overhead per block that runs (not a skip). Part of the prediction, so the additive model stays additive.
/// </summary>
public sealed record LatencyCalibration(int Networks, double ConstantNanoseconds, double PerBlockNanoseconds);

/// <summary>
/// Latency per image of every candidate operation of every block of one preset, each timed inside whole networks
/// of the preset, plus the stem, head and classifier (hournas latency-table). A network's predicted latency is the
/// sum of its parts (the additive model; docs/performance.md measures how far that is from the whole network).
/// Format hournas-latency/1, written as JSON.
/// </summary>
public sealed record LatencyTable(string Format, string Preset, DateTime Utc, LatencyConditions Conditions,
    double StemNanoseconds, double HeadNanoseconds, double ClassifierNanoseconds,
    IReadOnlyList<BlockLatencies> Blocks, LatencyCalibration? Calibration = null)
{
    public const string CurrentFormat = "hournas-latency/1";

    /// <summary>Bounds a table file, so a wrong path cannot make us read gigabytes.</summary>
    public const long MaxFileBytes = 4 << 20;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Stem, head and classifier, with the calibration's constant.</summary>
    public double FixedNanoseconds =>
        StemNanoseconds + HeadNanoseconds + ClassifierNanoseconds + (Calibration?.ConstantNanoseconds ?? 0);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static LatencyTable Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new SearchSpaceException($"latency table {path} does not exist");
        if (info.Length > MaxFileBytes)
            throw new SearchSpaceException($"latency table {path} is {info.Length:N0} bytes, over {MaxFileBytes:N0}");
        return FromJson(File.ReadAllText(path), $"latency table {path}");
    }

    /// <summary>Parses a table's JSON; <paramref name="source"/> names it in errors.</summary>
    public static LatencyTable FromJson(string json, string source)
    {
        LatencyTable? table;
        try
        {
            table = JsonSerializer.Deserialize<LatencyTable>(json, Json);
        }
        catch (JsonException e)
        {
            throw new SearchSpaceException($"{source} is not valid JSON: {e.Message}");
        }
        if (table is null || table.Format != CurrentFormat)
            throw new SearchSpaceException(
                $"{source} is not a latency table (format '{table?.Format}', expected '{CurrentFormat}')");
        if (table.Conditions is null || table.Blocks is null || table.Preset is null)
            throw new SearchSpaceException($"{source} has no preset, conditions or blocks");
        if (table.Blocks.Any(b => b?.Ops is null || b.Ops.Any(o => o?.Op is null || !(o.Nanoseconds >= 0)
                || double.IsInfinity(o.Nanoseconds))))
            throw new SearchSpaceException($"{source}: every entry needs an op and a finite latency >= 0");
        return table;
    }

    /// <summary>
    /// Checks the table was made for this skeleton and these conditions (null: any) and covers every candidate
    /// of every block; throws naming the first mismatch.
    /// </summary>
    public LatencyTable Check(ArchitectureSpace space, string? device = null, int? batchSize = null)
    {
        if (Preset != space.Skeleton.Name)
            throw new SearchSpaceException(
                $"the latency table was measured for preset '{Preset}', not '{space.Skeleton.Name}'");
        if (device is not null) RequireDevice(device);
        if (batchSize is { } bs && bs != Conditions.BatchSize)
            throw new SearchSpaceException(
                $"the latency table was measured at batch size {Conditions.BatchSize}, not {bs}");
        if (Blocks.Count != space.Blocks.Count)
            throw new SearchSpaceException(
                $"the latency table has {Blocks.Count} blocks, preset '{space.Skeleton.Name}' {space.Blocks.Count}");
        for (var b = 0; b < Blocks.Count; b++)
            foreach (var op in space.Candidates[b].Where(o => !o.IsSkip))
                if (!Blocks[b].Ops.Any(o => o.Op == op.ToString()))
                    throw new SearchSpaceException($"the latency table has no entry for block {b}, '{op}'");
        return this;
    }

    /// <summary>Throws unless the table was measured on this device type (cpu, cuda).</summary>
    public LatencyTable RequireDevice(string device) =>
        string.Equals(device, Conditions.Device, StringComparison.OrdinalIgnoreCase)
            ? this
            : throw new SearchSpaceException(
                $"the latency table was measured on device '{Conditions.Device}', not '{device}'");

    /// <summary>
    /// Latency of an operation of a block in whole nanoseconds, with the calibration's per-block overhead; a skip
    /// costs nothing.
    /// </summary>
    public long Of(int block, Operation op) => op.IsSkip
        ? 0
        : (long)Math.Round((Blocks[block].Ops.FirstOrDefault(o => o.Op == op.ToString())?.Nanoseconds
            ?? throw new SearchSpaceException($"the latency table has no entry for block {block}, '{op}'"))
            + (Calibration?.PerBlockNanoseconds ?? 0));
}
