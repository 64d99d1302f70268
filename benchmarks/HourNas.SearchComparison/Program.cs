using System.Globalization;
using System.Text.Json;
using HourNas.Engine.Data;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchComparison;
using HourNas.SearchSpace;

// HourNAS against full-space SPOS, a shortened SPOS and random search on fashion-mnist at one FLOPs budget, several
// seeds, methods alternating so machine drift hits all alike; every final genotype retrained with the same recipe.
//   dotnet run -c Release --project benchmarks/HourNas.SearchComparison -- [--profile quick|full] [--seeds 3]
//     [--budget-mflops 2.0]
//     [--methods hournas,hournas-rerank,hournas-top1,hournas-kernels,hournas-shared-kernels,spos,random-pick,
//       random,spos-short]
//     [--no-rank]
//     [--reference FILE.json]
//     [--out benchmarks/results] [--name <date>-<profile>] [--resume]
//   dotnet run -c Release --project benchmarks/HourNas.SearchComparison -- \
//     --report benchmarks/results/<date>-<profile>.json
//     (writes the Markdown and the plots again from a finished run's JSON)
// "--name value" options and "--flag" switches (a switch is followed by nothing or by another option).
var opts = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--")).ToDictionary(x => x.a[2..],
    x => x.i + 1 < args.Length && !args[x.i + 1].StartsWith("--") ? args[x.i + 1] : "true");
string Opt(string k, string d) => opts.TryGetValue(k, out var v) ? v : d;
if (opts.TryGetValue("report", out var reportFile))
{
    var finished = JsonSerializer.Deserialize<Report>(File.ReadAllText(reportFile), HourNasStages.Json)
        ?? throw new InvalidDataException($"{reportFile}: empty");
    var reportStem = Path.ChangeExtension(reportFile, null);
    File.WriteAllText(reportStem + ".md", Markdown.Render(finished));
    foreach (var file in ComparisonPlots.Write(finished, Path.GetDirectoryName(Path.GetFullPath(reportFile))!,
        Path.GetFileName(reportStem)))
        Console.Error.WriteLine($"wrote {file}");
    return;
}
var profile = Opt("profile", "quick") == "full" ? Profile.Full : Profile.Quick;
var seeds = int.Parse(Opt("seeds", "3"));
var budgetMFlops = double.Parse(Opt("budget-mflops", "2.0"), CultureInfo.InvariantCulture);
var outRoot = Opt("out", Path.Combine("benchmarks", "results"));
var stemName = Opt("name", $"{DateTime.UtcNow:yyyy-MM-dd}-{profile.Name}");
// A fixed work folder per run name: with --resume, finished runs are skipped and an interrupted one resumes from
// its stage checkpoints; the rank study reuses seed 1's supernets from here.
var work = Path.Combine(Path.GetTempPath(), $"hournas-comparison-{stemName}");

var device = TorchRuntime.Initialize("cpu");
var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
var data = Datasets.Open(null, space.Skeleton);
var budget = Budget.FromMFlops(budgetMFlops);
void Log(string line) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}");
StageContext Context(string name, ulong seed, TrainSettings train, int? limit) =>
    new(device, data, Path.Combine(work, name), seed, train, limit);

var runs = new List<RunRecord>();
Directory.CreateDirectory(outRoot);
var stem = Path.Combine(outRoot, stemName);
if (opts.ContainsKey("resume") && File.Exists(stem + ".runs.json"))
    runs.AddRange(JsonSerializer.Deserialize<List<RunRecord>>(File.ReadAllText(stem + ".runs.json"),
        HourNasStages.Json) ?? []);
// Every finished run is saved at once, so a crash late in a long profile loses nothing already measured.
void SaveRuns() => File.WriteAllText(stem + ".runs.json", JsonSerializer.Serialize(runs, HourNasStages.Json));
var methods = opts.TryGetValue("methods", out var methodList)
    ? methodList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
    : Profile.Methods.ToArray();
if (methods.FirstOrDefault(m => !Profile.Methods.Contains(m)) is { } unknownMethod)
    throw new ArgumentException(
        $"--methods: unknown method '{unknownMethod}' (known: {string.Join(", ", Profile.Methods)})");
// The committed stand-alone table the picks are placed in (percentiles); a comparison without one has none.
var referencePath = Opt("reference", Path.Combine("benchmarks", "results", "rank-reference-fashion-mnist.json"));
var reference = File.Exists(referencePath) ? ReferenceAccuracies.Load(referencePath, budget,
    profile.RetrainEpochs) : null;
for (var s = 0; s < seeds; s++)
{
    var seed = (ulong)(s + 1);
    // Rotate the order per seed, so no method always runs first (or last) on a warming or loaded machine.
    foreach (var method in methods.Skip(s % methods.Length).Concat(methods.Take(s % methods.Length)))
    {
        if (runs.Any(r => r.Method == method && r.Seed == seed)) continue;
        Log($"seed {seed}: {method}");
        runs.Add(WithRetries(() => RunMethod(method, seed), $"seed {seed}: {method}"));
        SaveRuns();
        var record = runs[^1];
        Log($"seed {seed}: {method} -> {record.Genotype} {record.MFlops:F2} MFLOPs, " +
            $"predicted {record.PredictedAccuracy:P2}, retrained {record.Top1:P2}, search {record.SearchSeconds:F0} s");
    }
}

// TorchSharp 0.107 sometimes fails a native call on a Scalar the GC finalized too early (docs/engine.md): retry the
// run, which resumes from its last epoch checkpoint, as a pipeline worker's retry would.
T WithRetries<T>(Func<T> run, string what)
{
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            return run();
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (attempt < 3)
        {
            Log($"{what}: attempt {attempt} failed in libtorch ({e.Message.Split('\n')[0]}); " +
                "resuming from the checkpoint");
        }
    }
}

RunRecord RunMethod(string method, ulong seed)
{
    var stages = new List<StageRecord>();
    SearchResult search;
    string? vital = null;
    switch (method)
    {
        case "hournas" or "hournas-rerank" or "hournas-top1" or "hournas-kernels" or "hournas-shared-kernels":
            var rankBy = method == "hournas-top1" ? CandidateRanking.Top1 : CandidateRanking.Loss;
            var kernelsApart = method switch
            {
                "hournas-kernels" => Profile.KernelsApartBlocks,
                "hournas-shared-kernels" => 0,
                _ => new SearchSettings().KernelsApartBlocks,
            };
            var folder = method switch
            {
                "hournas-top1" => $"{seed}-top1",
                "hournas-kernels" => $"{seed}-kernels",
                "hournas-shared-kernels" => $"{seed}-shared-kernels",
                _ => $"{seed}",
            };
            var s1 = HourNasStages.SearchVitalBlocks(Context($"{folder}-s1", seed, profile.Train,
                profile.Stage1TrainLimit ?? profile.TrainLimit), space, budget,
                profile.Search(profile.Stage1Epochs, profile.Stage1Evolution) with
                {
                    RankBy = rankBy,
                    KernelsApartBlocks = kernelsApart,
                });
            stages.Add(StageRecord.Of("stage1", s1.Cost));
            vital = s1.VitalOperations;
            search = HourNasStages.SearchNonVitalBlocks(Context($"{folder}-s2", seed, profile.Train,
                profile.TrainLimit), space, budget,
                Presets.ResolveVitalChoices(space, s1.VitalOperations), s1.SupernetWeights,
                    profile.Search(profile.Stage2Epochs, profile.Stage2Evolution) with
                    {
                        Rerank = method == "hournas-rerank" ? Profile.Rerank : 0,
                        RankBy = rankBy,
                        KernelsApartBlocks = kernelsApart,
                    });
            stages.Add(StageRecord.Of("stage2", search.Cost));
            break;
        case "spos" or "spos-short":
            var settings = method == "spos" ? profile.Search(profile.SposEpochs, profile.SposEvolution)
                : profile.Search(profile.SposShortEpochs, profile.SposShortEvolution);
            search = HourNasStages.SearchSpos(Context($"{seed}-{method}", seed, profile.Train, profile.TrainLimit),
                space, budget, settings);
            stages.Add(StageRecord.Of(method, search.Cost));
            break;
        case "random-pick":
            return RandomPick(seed);
        default:
            search = HourNasStages.SearchRandom(Context($"{seed}-random", seed, profile.Train, profile.TrainLimit),
                space, budget,
                profile.Search(profile.RandomEpochs));
            stages.Add(StageRecord.Of("random", search.Cost));
            break;
    }
    var genotype = space.Parse(search.Genotype);
    var retrain = HourNasStages.Retrain(Context($"{seed}-{method}-retrain", seed, profile.Retrain, null), space,
        genotype);
    return new RunRecord(method, seed, search.Genotype, vital, search.MFlops, search.Params,
        search.ValidationAccuracy, retrain.Top1,
        retrain.Top5, stages.Sum(x => x.Seconds), stages.Sum(x => x.TrainImages + x.EvalImages), stages,
            retrain.Cost.Seconds,
        search.Evaluated.Count);
}

// The baseline a user gets without any search: one architecture drawn from the window through the max-entropy
// proposal (as the pipeline proposes), retrained with the same recipe; search cost 0.
RunRecord RandomPick(ulong seed)
{
    var shrunk = SpaceShrinker.Shrink(space, budget);
    var sampler = new ArchitectureSampler(Proposal.MaxEntropy(shrunk));
    var genotype = shrunk.ToGenotype(sampler.Sample(new Rng(Rng.Derive(seed, 61))));
    var cost = space.Costs.Of(genotype).Total;
    var retrain = HourNasStages.Retrain(Context($"{seed}-random-pick-retrain", seed, profile.Retrain, null), space,
        genotype);
    return new RunRecord("random-pick", seed, genotype.ToString(), null, cost.MFlops, cost.Params, double.NaN,
        retrain.Top1, retrain.Top5, 0, 0, [], retrain.Cost.Seconds, 0);
}

RankRecord? rank = null;
AblationResult? ablation = null;
if (!opts.ContainsKey("no-rank"))
{
    // Rank correlation on seed 1: architectures from HourNAS's stage-2 space, scored by both supernets and trained
    // stand-alone.
    Log("rank correlation");
    var rankSeed = 1UL;
    var vitalOps = runs.First(r => r.Method == "hournas" && r.Seed == rankSeed).VitalOperations!;
    var hourShrunk = SpaceShrinker.Shrink(space, budget, Presets.ResolveVitalChoices(space, vitalOps));
    var sampler = new ArchitectureSampler(Proposal.Uniform(hourShrunk));
    var rng = new Rng(Rng.Derive(rankSeed, 41));
    var sample = Enumerable.Range(0, profile.RankSample * 3).Select(_ => hourShrunk.ToGenotype(sampler.Sample(rng)))
        .DistinctBy(g => g.ToString()).Take(profile.RankSample).ToArray();
    var rankContext = Context("rank", rankSeed, profile.Train, profile.TrainLimit);
    var hourPredicted = HourNasStages.PredictAccuracy(rankContext, space,
        Path.Combine(work, $"{rankSeed}-s2", "supernet.dat"), sample, profile.Search(1));
    var sposPredicted = HourNasStages.PredictAccuracy(rankContext, space,
        Path.Combine(work, $"{rankSeed}-spos", "supernet.dat"), sample, profile.Search(1));
    var standAlone = HourNasStages.StandAloneAccuracy(rankContext, space, sample, profile.RankEpochs,
        profile.Search(1));
    rank = new RankRecord(sample.Select(g => g.ToString()).ToArray(), hourPredicted, sposPredicted, standAlone,
        RankCorrelation.KendallTau(hourPredicted, standAlone), RankCorrelation.KendallTau(sposPredicted, standAlone));
    Log($"Kendall tau: hournas {rank.HourNasTau:F2}, spos {rank.SposTau:F2}");

    // The paper's motivating observation on our data: accuracy drop when one block of a trained network is disabled.
    Log("vital-block ablation");
    ablation = HourNasStages.Ablate(Context("ablation", 1, profile.Train with { Epochs = profile.AblationEpochs },
        null), space,
        Presets.Resolve("fashion-mnist", "manual").Genotype, weights: null);
}

var report = new Report(profile.Name, DateTime.UtcNow, Environment.MachineName, Environment.ProcessorCount,
    budget.MaxMFlops!.Value, budget.MinMFlops!.Value,
    profile, runs, rank, ablation, reference);
File.WriteAllText(stem + ".json", JsonSerializer.Serialize(report, HourNasStages.Json));
File.WriteAllText(stem + ".md", Markdown.Render(report));
ComparisonPlots.Write(report, outRoot, Path.GetFileName(stem));
Console.WriteLine(File.ReadAllText(stem + ".md"));
File.Delete(stem + ".runs.json");
Log($"wrote {stem}.json and {stem}.md");
try { Directory.Delete(work, true); } catch (IOException) { }

namespace HourNas.SearchComparison
{
    public sealed record StageRecord(string Stage, double Seconds, long TrainImages, long EvalImages)
    {
        public static StageRecord Of(string stage, StageCost cost) => new(stage, cost.Seconds, cost.TrainImages,
            cost.EvalImages);
    }

    public sealed record RunRecord(string Method, ulong Seed, string Genotype, string? VitalOperations, double MFlops,
        long Params,
        double PredictedAccuracy, double Top1, double Top5, double SearchSeconds, long SearchImages,
            IReadOnlyList<StageRecord> Stages,
        double RetrainSeconds, int Evaluations);

    public sealed record RankRecord(IReadOnlyList<string> Genotypes, IReadOnlyList<double> HourNasPredicted,
        IReadOnlyList<double> SposPredicted,
        IReadOnlyList<double> StandAlone, double HourNasTau, double SposTau);

    public sealed record Report(string Profile, DateTime Utc, string Machine, int Cores, double BudgetMFlops,
        double MinMFlops, Profile Settings,
        IReadOnlyList<RunRecord> Runs, RankRecord? Rank, AblationResult? Ablation,
            ReferenceAccuracies? Reference = null);
}
