using System.Text.Json;
using HourNas.Engine.Stages;
using HourNas.SearchSpace;

namespace HourNas.RankStudy;

/// <summary>One stand-alone training of a reference architecture.</summary>
public sealed record StandAloneRun(ulong Seed, double Top1, double Top5, double Seconds);

/// <summary>A reference architecture with its cost and its stand-alone runs, one per seed.</summary>
public sealed record ReferenceArchitecture(string Genotype, double MFlops, long Params, bool InWindow,
    IReadOnlyList<StandAloneRun> Runs)
{
    /// <summary>Mean test top-1 over the seeds (NaN before the first run).</summary>
    public double MeanTop1 => Runs.Count == 0 ? double.NaN : Runs.Average(r => r.Top1);
}

/// <summary>
/// The rank study's ground truth: architectures of one preset trained alone with the retrain recipe under several
/// seeds (test top-1). Committed, so every later supernet is measured against the same set.
/// </summary>
public sealed record ReferenceTable(string Preset, double WindowMinMFlops, double WindowMaxMFlops, int Epochs,
    string Recipe, string Machine, int Cores, IReadOnlyList<ReferenceArchitecture> Architectures)
{
    public static ReferenceTable Load(string path) =>
        JsonSerializer.Deserialize<ReferenceTable>(File.ReadAllText(path), HourNasStages.Json)
        ?? throw new InvalidDataException($"{path}: empty reference table");

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, HourNasStages.Json));
}

/// <summary>How the reference architectures are drawn: uniformly over the whole space, then kept by cost bin.</summary>
public static class ReferenceSelection
{
    /// <summary>Cost bins outside the window (MFLOPs, lower inclusive) and how many architectures each gets.</summary>
    public static readonly (double Low, double High, int Count)[] OutsideBins =
        [(0.8, 1.2, 2), (1.2, 1.6, 2), (1.6, 1.8, 2), (2.0, 2.5, 2), (2.5, 3.0, 2), (3.0, 4.0, 2)];

    public static IReadOnlyList<Genotype> Draw(ArchitectureSpace space, double windowMin, double windowMax,
        int inWindow, ulong seed)
    {
        var rng = new Rng(seed);
        var picked = new List<Genotype>();
        var seen = new HashSet<string>();
        var window = 0;
        var bins = new int[OutsideBins.Length];
        for (var tries = 0;
             tries < 10_000_000 && (window < inWindow || bins.Where((n, i) => n < OutsideBins[i].Count).Any());
             tries++)
        {
            var genotype = space.FromBlocks(space.Candidates.Select(c => c[rng.NextInt(c.Count)]).ToArray());
            if (seen.Contains(genotype.ToString())) continue;
            var mFlops = space.Costs.Of(genotype).Total.MFlops;
            if (mFlops >= windowMin && mFlops <= windowMax)
            {
                if (window == inWindow) continue;
                window++;
            }
            else
            {
                var bin = Array.FindIndex(OutsideBins, b => mFlops >= b.Low && mFlops < b.High);
                if (bin < 0 || bins[bin] == OutsideBins[bin].Count) continue;
                bins[bin]++;
            }
            seen.Add(genotype.ToString());
            picked.Add(genotype);
        }
        return picked.OrderBy(g => space.Costs.Of(g).Total.Macs).ToArray();
    }
}
