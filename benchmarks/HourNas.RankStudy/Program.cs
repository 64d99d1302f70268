using System.Globalization;
using HourNas.Engine.Data;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.RankStudy;
using HourNas.SearchSpace;

// The rank study: how well a supernet's inherited-weight accuracy ranks architectures it never trained alone.
//   reference: draw the reference set of fashion-mnist architectures and train each alone with the retrain recipe
//     under every seed (resumable: runs already in the file are kept)
//       dotnet run -c Release --project benchmarks/HourNas.RankStudy -- reference [--seeds 2] [--epochs 5]
//         [--table benchmarks/results/rank-reference-fashion-mnist.json]
//   study: train full-space supernets one after the other (independent and entangled weights), score the reference set
//     with each, and write <out>/<name>.json, .md and the scatter plot
//       dotnet run -c Release --project benchmarks/HourNas.RankStudy -- study [--epochs 3] [--seed 1]
//         [--validation-images 6000] [--sharing independent,entangled] [--name <date>-rank-study]
//         (a supernet is a weight sharing with optional knobs: entangled:epochs=8:bs=64:lr=0.3:bn=40, the rate
//         being the peak one; ft=200:ftlr=0.01 fine-tunes each path for 200 steps before its score, scratch=1
//         trains those steps from a fresh initialisation instead; pbn=1 gives each candidate BatchNorms of its own;
//         loss=1 ranks by validation loss; fair=1 trains with strict fairness, sandwich=1 with the sandwich rule,
//         fam=1 draws training paths with the expansion families balanced, kap=N keeps each kernel's weights apart
//         in the first N blocks, wu=0.1 warms the rate up over 0.1 epochs (default 0.3); variants differing
//         only in bn=, ft=, ftlr=, scratch= and loss= share one trained supernet)
//         [--out benchmarks/results]
//         [--reuse] (score the supernets a run of the same name trained, in $TMPDIR/hournas-<name>, again)
//   picks: what a search would pick with each supernet of saved studies, and with stage 2's re-ranking of its top K
//     where a fine-tuned variant was scored beside it (also at the end of every study's .md)
//       dotnet run -c Release --project benchmarks/HourNas.RankStudy -- picks --results A.json[,B.json]
//         [--rerank 2,3,5]
var opts = args.Skip(1).Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--")).ToDictionary(x => x.a[2..],
    x => x.i + 2 < args.Length && !args[x.i + 2].StartsWith("--") ? args[x.i + 2] : "true");
string Opt(string k, string d) => opts.TryGetValue(k, out var v) ? v : d;
void Log(string line) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}");
var command = args.FirstOrDefault() ?? "";
const string preset = "fashion-mnist";
var space = new ArchitectureSpace(Presets.Skeleton(preset));
var tablePath = Opt("table", Path.Combine("benchmarks", "results", "rank-reference-fashion-mnist.json"));

switch (command)
{
    case "reference":
        Reference();
        break;
    case "study":
        RunStudy();
        break;
    case "picks":
        ShowPicks();
        break;
    default:
        Console.Error.WriteLine(
            "usage: HourNas.RankStudy reference|study|picks [options] (see the comment at the top of Program.cs)");
        return 2;
}
return 0;

void RunStudy()
{
    var table = ReferenceTable.Load(tablePath);
    var epochs = int.Parse(Opt("epochs", "3"), CultureInfo.InvariantCulture);
    var variants = Opt("sharing", "independent,entangled").Split(',')
        .Select(v => SupernetVariant.Parse(v, epochs)).ToArray();
    var outRoot = Opt("out", Path.Combine("benchmarks", "results"));
    // Made before the supernets train, so a new folder does not cost a whole study at the end.
    Directory.CreateDirectory(outRoot);
    var name = Opt("name", $"{DateTime.UtcNow:yyyy-MM-dd}-rank-study");
    var report = Study.Run(space, table, variants,
        int.Parse(Opt("validation-images", "6000"), CultureInfo.InvariantCulture),
        ulong.Parse(Opt("seed", "1"), CultureInfo.InvariantCulture),
        Path.Combine(Path.GetTempPath(), $"hournas-{name}"), opts.ContainsKey("reuse"), Log);
    var stem = Path.Combine(outRoot, name);
    File.WriteAllText(stem + ".json", System.Text.Json.JsonSerializer.Serialize(report, HourNasStages.Json));
    File.WriteAllText(stem + ".md", Study.Markdown(report, table));
    Study.Plot(report, table, outRoot, name);
    Console.WriteLine(File.ReadAllText(stem + ".md"));
}

void ShowPicks()
{
    var table = ReferenceTable.Load(tablePath);
    var rerank = Opt("rerank", "2,3,5").Split(',').Select(k => int.Parse(k, CultureInfo.InvariantCulture)).ToArray();
    foreach (var file in Opt("results", "").Split(',', StringSplitOptions.RemoveEmptyEntries))
    {
        var report = System.Text.Json.JsonSerializer.Deserialize<StudyReport>(File.ReadAllText(file),
            HourNasStages.Json) ?? throw new InvalidDataException($"{file}: empty study");
        Console.WriteLine($"{file}:");
        Console.WriteLine();
        Console.WriteLine(Picks.Markdown(report, table, rerank));
    }
}

void Reference()
{
    var seeds = int.Parse(Opt("seeds", "2"), CultureInfo.InvariantCulture);
    var epochs = int.Parse(Opt("epochs", "5"), CultureInfo.InvariantCulture);
    var train = new TrainSettings(Epochs: epochs);
    var table = File.Exists(tablePath)
        ? ReferenceTable.Load(tablePath)
        : new ReferenceTable(preset, 1.8, 2.0, epochs, train.ToString(), Environment.MachineName,
            Environment.ProcessorCount,
            ReferenceSelection.Draw(space, 1.8, 2.0, inWindow: 12, seed: 2026).Select(g =>
            {
                var cost = space.Costs.Of(g).Total;
                return new ReferenceArchitecture(g.ToString(), cost.MFlops, cost.Params,
                    cost.MFlops is >= 1.8 and <= 2.0, []);
            }).ToArray());
    if (table.Epochs != epochs)
        throw new InvalidOperationException($"{tablePath} was trained for {table.Epochs} epochs, not {epochs}");
    table.Save(tablePath);
    var device = TorchRuntime.Initialize("cpu");
    var data = Datasets.Open(null, space.Skeleton);
    var work = Path.Combine(Path.GetTempPath(), "hournas-rank-reference");
    var architectures = table.Architectures.ToList();
    // Seed by seed, so a partial table already has every architecture once.
    for (var s = 1UL; s <= (ulong)seeds; s++)
    {
        for (var a = 0; a < architectures.Count; a++)
        {
            var arch = architectures[a];
            if (arch.Runs.Any(r => r.Seed == s)) continue;
            var ctx = new StageContext(device, data, Path.Combine(work, $"{a}-{s}"), s, train);
            var result = HourNasStages.Retrain(ctx, space, space.Parse(arch.Genotype));
            architectures[a] = arch with
            {
                Runs = [.. arch.Runs, new StandAloneRun(s, result.Top1, result.Top5, result.Cost.Seconds)]
            };
            table = table with { Architectures = architectures.ToArray() };
            table.Save(tablePath);
            Log($"seed {s} #{a + 1}/{architectures.Count} {arch.Genotype} {arch.MFlops:F2} MFLOPs: " +
                $"{result.Top1:P2} in {result.Cost.Seconds:F0} s");
            Directory.Delete(ctx.OutputFolder, true);
        }
    }
}
