using System.Text.Json;

namespace HourNas.SearchSpace;

/// <summary>A genotype with a name, the preset it belongs to, and optionally its own block style.</summary>
public sealed record NamedGenotype(
    string Name, string Preset, string Text, string? Description = null, BlockStyle? Style = null);

/// <summary>The embedded skeleton presets and named genotypes (JSON files under Presets/).</summary>
public static class Presets
{
    private static readonly Lazy<IReadOnlyDictionary<string, Skeleton>> SkeletonsByName = new(LoadSkeletons);
    private static readonly Lazy<IReadOnlyList<NamedGenotype>> NamedGenotypes = new(LoadGenotypes);

    public static IReadOnlyCollection<string> SkeletonNames => SkeletonsByName.Value.Keys.Order().ToArray();

    public static IReadOnlyList<Skeleton> Skeletons => SkeletonNames.Select(n => SkeletonsByName.Value[n]).ToArray();

    public static IReadOnlyList<NamedGenotype> Genotypes => NamedGenotypes.Value;

    /// <summary>
    /// An embedded preset by name only: what a spec from the network may name (no file is read). A long name is cut
    /// in the message here, as BoundedText does outside the pure core.
    /// </summary>
    public static Skeleton Named(string name) =>
        SkeletonsByName.Value.TryGetValue(name, out var s) ? s
        : throw new SearchSpaceException(
            $"unknown preset '{(name.Length <= 64 ? name : name[..64] + "...")}': known presets are " +
            $"{string.Join(", ", SkeletonNames)}; a skeleton of your own goes inline in the spec ('skeleton', " +
            "or --preset FILE.json on the CLI)");

    /// <summary>A preset by name, or a skeleton JSON file by path (local commands only).</summary>
    public static Skeleton Skeleton(string nameOrPath)
    {
        if (SkeletonsByName.Value.TryGetValue(nameOrPath, out var s)) return s;
        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(nameOrPath))
            return SearchSpace.Skeleton.Load(nameOrPath);
        throw new SearchSpaceException(
            $"unknown preset '{nameOrPath}': known presets are {string.Join(", ", SkeletonNames)} " +
            "(or give a skeleton .json file)");
    }

    /// <summary>
    /// Resolves what a user typed for a genotype (a name, a .json file, or the text form) together with the
    /// preset (name or skeleton file; may be omitted for a named genotype). A named genotype with its own
    /// block style applies that style to the skeleton. Returns the validated genotype and its space.
    /// </summary>
    public static (ArchitectureSpace Space, Genotype Genotype) Resolve(string? preset, string genotype)
    {
        var presetName = preset is null ? null : PresetName(preset);
        var sameName = Genotypes.Where(g => g.Name == genotype).ToArray();
        if (sameName.Length > 0)
        {
            var named = sameName.FirstOrDefault(g => g.Preset == presetName)
                ?? (presetName is null && sameName.Length == 1 ? sameName[0] : null)
                ?? throw new SearchSpaceException(presetName is null
                    ? $"genotype '{genotype}' exists for presets " +
                        $"{string.Join(", ", sameName.Select(g => g.Preset))}: say which with --preset"
                    : $"genotype '{genotype}' belongs to preset " +
                        $"{string.Join(", ", sameName.Select(g => $"'{g.Preset}'"))}, not '{presetName}'");
            var skeleton = Skeleton(named.Preset);
            if (named.Style is not null) skeleton = skeleton with { Style = named.Style };
            var space = new ArchitectureSpace(skeleton);
            return (space, space.Parse(named.Text));
        }

        Genotype parsed;
        string? filePreset = null;
        if (genotype.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(genotype)) throw new SearchSpaceException($"genotype file '{genotype}' does not exist");
            (parsed, filePreset) = Genotype.FromJson(File.ReadAllText(genotype), genotype);
        }
        else if (genotype.Contains(' ') || genotype.Contains('|') || Operation.TryParse(genotype, out _))
        {
            parsed = Genotype.Parse(genotype);
        }
        else
        {
            var known = string.Join(", ", Genotypes.Select(g => $"{g.Name} ({g.Preset})"));
            throw new SearchSpaceException(
                $"unknown genotype '{genotype}': give a name ({known}), a .json file, " +
                "or the text form 'k3e1 | k5e6 ...'");
        }

        var presetToUse = preset ?? filePreset
            ?? throw new SearchSpaceException(
                "a genotype given as text needs --preset to say which skeleton it is for");
        var s2 = new ArchitectureSpace(Skeleton(presetToUse));
        return (s2, s2.Validate(parsed));
    }

    /// <summary>
    /// The operations of the vital blocks, from a genotype name, a .json file, a whole genotype in text form,
    /// or just the vital operations in block order (e.g. "k3e1 k5e6 k5e6 k5e6 k5e6 k5e6 k5e6" for imagenet).
    /// </summary>
    public static IReadOnlyDictionary<int, Operation> ResolveVitalChoices(ArchitectureSpace space, string spec)
    {
        var tokens = spec.Replace('|', ' ').Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length == space.VitalBlocks.Count && tokens.All(t => Operation.TryParse(t, out _)))
        {
            var ops = tokens.Select(Operation.Parse).ToArray();
            var choices = space.VitalBlocks.Select((b, i) => (b, ops[i])).ToDictionary(x => x.b, x => x.Item2);
            foreach (var (b, op) in choices)
                if (!space.Candidates[b].Contains(op))
                    throw new SearchSpaceException(
                        $"vital block {b}: '{op}' is not among its candidates " +
                        $"{string.Join(", ", space.Candidates[b])}");
            return choices;
        }
        if (tokens.Length > 1 && tokens.Length != space.Blocks.Count)
            throw new SearchSpaceException(
                $"vital genotype has {tokens.Length} operations: give one per vital block " +
                $"({space.VitalBlocks.Count}: blocks {string.Join(", ", space.VitalBlocks)}) " +
                $"or a whole genotype ({space.Blocks.Count} blocks)");
        var whole = tokens.Length > 1 ? space.Parse(spec) : Resolve(space.Skeleton.Name, spec).Genotype;
        return space.VitalBlocks.ToDictionary(b => b, b => whole.Blocks[b]);
    }

    private static string PresetName(string nameOrPath) =>
        SkeletonsByName.Value.ContainsKey(nameOrPath) ? nameOrPath : Skeleton(nameOrPath).Name;

    private static IReadOnlyDictionary<string, Skeleton> LoadSkeletons()
    {
        var assembly = typeof(Presets).Assembly;
        const string prefix = "HourNas.SearchSpace.Presets.";
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal)
                && !n.EndsWith("genotypes.json", StringComparison.Ordinal))
            .Select(n => SearchSpace.Skeleton.FromJson(ReadResource(n), n[prefix.Length..]))
            .ToDictionary(s => s.Name);
    }

    private static IReadOnlyList<NamedGenotype> LoadGenotypes() =>
        JsonSerializer.Deserialize<NamedGenotype[]>(ReadResource("HourNas.SearchSpace.Presets.genotypes.json"),
            SearchSpace.Skeleton.Json)
        ?? throw new InvalidOperationException("embedded genotypes.json is empty");

    private static string ReadResource(string name)
    {
        using var stream = typeof(Presets).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
