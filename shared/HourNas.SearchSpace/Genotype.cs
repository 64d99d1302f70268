using System.Text.Json;

namespace HourNas.SearchSpace;

/// <summary>
/// One operation per block, grouped by stage. Text form: <c>k3e1 | k5e6 k5e1 skip skip | ...</c>
/// (stages split by '|'). Structure only; <see cref="ArchitectureSpace.Validate"/> checks it against a skeleton.
/// </summary>
public sealed class Genotype
{
    public Genotype(IEnumerable<IEnumerable<Operation>> stages)
    {
        Stages = stages.Select(s => (IReadOnlyList<Operation>)s.ToArray()).ToArray();
        Blocks = Stages.SelectMany(s => s).ToArray();
    }

    public IReadOnlyList<IReadOnlyList<Operation>> Stages { get; }

    public IReadOnlyList<Operation> Blocks { get; }

    public override string ToString() => string.Join(" | ", Stages.Select(s => string.Join(' ', s)));

    public override bool Equals(object? obj) => obj is Genotype g && g.ToString() == ToString();

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    public static Genotype Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new SearchSpaceException("genotype text is empty");
        var stages = text.Split('|').Select((stage, s) =>
        {
            var tokens = stage.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0) throw new SearchSpaceException($"genotype stage {s + 1} has no operations");
            return tokens.Select((t, p) => Operation.TryParse(t, out var op)
                ? op
                : throw new SearchSpaceException(
                    $"genotype stage {s + 1}, position {p + 1}: unknown operation '{t}' " +
                    "(expected 'skip' or e.g. 'k3e6')"));
        });
        return new Genotype(stages.ToArray());
    }

    /// <summary>The JSON form: {"preset": ..., "stages": [["k3e1"], ["k5e6", ...], ...]}.</summary>
    public sealed record Document(string? Preset, IReadOnlyList<IReadOnlyList<string>> Stages);

    public string ToJson(string? preset) =>
        JsonSerializer.Serialize(
            new Document(preset, Stages.Select(s => s.Select(o => o.ToString()).ToArray()).ToArray()),
            Skeleton.Json);

    public static (Genotype Genotype, string? Preset) FromJson(string json, string source)
    {
        Document? doc;
        try
        {
            doc = JsonSerializer.Deserialize<Document>(json, Skeleton.Json);
        }
        catch (JsonException e)
        {
            throw new SearchSpaceException($"{source}: not a valid genotype file: {e.Message}");
        }
        if (doc?.Stages is not { Count: > 0 }) throw new SearchSpaceException($"{source}: genotype file has no stages");
        try
        {
            return (Parse(string.Join(" | ", doc.Stages.Select(s => string.Join(' ', s ?? [])))), doc.Preset);
        }
        catch (SearchSpaceException e)
        {
            throw new SearchSpaceException($"{source}: {e.Message}");
        }
    }
}
