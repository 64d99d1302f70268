using System.Globalization;
using System.Text;
using System.Text.Json;
using HourNas.Coordination.Reports;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using ScottPlot;

namespace HourNas.RankStudy;

/// <summary>A rank correlation with its 95% bootstrap interval, over some architectures.</summary>
public sealed record Correlation(int Architectures, double Tau, double TauLow, double TauHigh,
    double Rho, double RhoLow, double RhoHigh)
{
    public static Correlation Of(IReadOnlyList<double> predicted, IReadOnlyList<double> truth, ulong seed)
    {
        var (tl, th) = RankCorrelation.BootstrapInterval(predicted, truth, RankCorrelation.KendallTau, seed);
        var (rl, rh) = RankCorrelation.BootstrapInterval(predicted, truth, RankCorrelation.SpearmanRho, seed);
        return new Correlation(predicted.Count, RankCorrelation.KendallTau(predicted, truth), tl, th,
            RankCorrelation.SpearmanRho(predicted, truth), rl, rh);
    }
}

/// <summary>One predictor's ranking of the reference set, overall and inside the window.</summary>
public sealed record PredictorResult(string Name, Correlation Overall, Correlation InWindow);

/// <summary>
/// How one supernet of the study is trained and scored: its weight sharing, epochs, batch and peak learning rate
/// (the search recipe's unless given), the BatchNorm re-estimation batches before each score, and an optional
/// fine-tuning of each path before its score (<c>ft</c> steps at rate <c>ftlr</c>; <c>scratch=1</c> trains the same
/// steps from a fresh initialisation instead, the control). Written on the command line as
/// <c>entangled[:epochs=8][:bs=64][:lr=0.3][:bn=10][:seed=2][:ft=100][:ftlr=0.01][:scratch=1][:fair=1][:pbn=1]
/// [:loss=1][:sandwich=1][:fam=1][:kap=1][:wu=0.3]</c> (wu: warm-up epochs, <see cref="TrainSettings.WarmupEpochs"/>;
/// fair: strict fairness, <see cref="TrainSettings.StrictFairness"/>;
/// kap: the first kap blocks hold each kernel's weights apart, <see cref="SearchSettings.KernelsApartBlocks"/>; fam:
/// paths drawn with the expansion families balanced, <see cref="SearchSettings.BalanceFamilies"/>; sandwich: the
/// sandwich rule with in-place distillation, <see cref="TrainSettings.Sandwich"/>; pbn: per-candidate BatchNorms,
/// <see cref="SearchSettings.NormPerCandidate"/>; loss: ranks by validation cross-entropy instead of top-1, reported
/// as exp(-loss), the geometric-mean probability of the true label, so higher is better as for top-1); a seed of its
/// own
/// (default: the study's) also moves the held-out validation split, so variants differing only in it are
/// independent runs.
/// </summary>
public sealed record SupernetVariant(string Name, WeightSharing Sharing, int Epochs, int BatchSize,
    double LearningRate, int BatchNormBatches, ulong? Seed = null, FineTune? FineTune = null, bool Fair = false,
    bool NormPerCandidate = false, bool ByLoss = false, bool Sandwich = false, bool BalanceFamilies = false,
    int KernelsApartBlocks = 0, double? WarmupEpochs = null)
{
    public static SupernetVariant Parse(string text, int defaultEpochs)
    {
        var parts = text.Split(':');
        var sharing = Enum.Parse<WeightSharing>(parts[0], true);
        var knobs = parts.Skip(1).Select(p => p.Split('=', 2)).ToDictionary(p => p[0],
            p => p.Length == 2 ? double.Parse(p[1], CultureInfo.InvariantCulture)
                : throw new ArgumentException($"variant {text}: '{p[0]}' is not knob=value"));
        string[] known =
            ["epochs", "bs", "lr", "bn", "seed", "ft", "ftlr", "scratch", "fair", "pbn", "loss", "sandwich", "fam",
                "kap", "wu"];
        foreach (var k in knobs.Keys.Except(known))
            throw new ArgumentException($"variant {text}: unknown knob '{k}' ({string.Join(", ", known)})");
        var recipe = new TrainSettings();
        var search = new SearchSettings();
        return new SupernetVariant(text.ToLowerInvariant(), sharing,
            (int)knobs.GetValueOrDefault("epochs", defaultEpochs), (int)knobs.GetValueOrDefault("bs", recipe.BatchSize),
            knobs.GetValueOrDefault("lr", recipe.PeakLearningRate),
            (int)knobs.GetValueOrDefault("bn", search.BatchNormBatches),
            knobs.TryGetValue("seed", out var seed) ? (ulong)seed : null,
            knobs.TryGetValue("ft", out var steps)
                ? new FineTune((int)steps, knobs.GetValueOrDefault("ftlr", 0.01),
                    knobs.GetValueOrDefault("scratch") > 0)
                : null,
            knobs.GetValueOrDefault("fair") > 0,
            knobs.GetValueOrDefault("pbn") > 0,
            knobs.GetValueOrDefault("loss") > 0,
            knobs.GetValueOrDefault("sandwich") > 0,
            knobs.GetValueOrDefault("fam") > 0,
            (int)knobs.GetValueOrDefault("kap"),
            knobs.TryGetValue("wu", out var warmup) ? warmup : null);
    }

    /// <summary>The rate is the peak one: the reference batch is the variant's own, so nothing rescales it.</summary>
    public TrainSettings Train => new(Epochs: Epochs, BatchSize: BatchSize, LearningRate: LearningRate,
        ReferenceBatchSize: BatchSize, StrictFairness: Fair, Sandwich: Sandwich,
        WarmupEpochs: WarmupEpochs ?? new TrainSettings().WarmupEpochs);

    /// <summary>
    /// Variants differing only in how they score (BatchNorm batches, fine-tuning, loss) share a supernet.
    /// </summary>
    public string TrainingKey => string.Create(CultureInfo.InvariantCulture,
        $"{Sharing}-e{Epochs}-bs{BatchSize}-lr{LearningRate}{Flags}{(Seed is { } s ? $"-s{s}" : "")}")
        .ToLowerInvariant();

    /// <summary>Everything but the seed: one recipe's runs under several seeds are also scored as a mean.</summary>
    public string Recipe => string.Create(CultureInfo.InvariantCulture,
        $"{Sharing}-e{Epochs}-bs{BatchSize}-lr{LearningRate}-bn{BatchNormBatches}-{FineTune}{Flags}{Scoring}");

    private string Scoring => ByLoss ? "-loss" : "";

    private string Flags => (Fair ? "-fair" : "") + (NormPerCandidate ? "-pbn" : "") + (Sandwich ? "-sandwich" : "")
        + (BalanceFamilies ? "-fam" : "") + (KernelsApartBlocks > 0 ? $"-kap{KernelsApartBlocks}" : "")
        + (WarmupEpochs is { } w ? string.Create(CultureInfo.InvariantCulture, $"-wu{w}") : "");
}

/// <summary>
/// One supernet of the study: how it was trained and what it predicts for every reference architecture.
/// </summary>
public sealed record SupernetResult(string Sharing, int Epochs, IReadOnlyList<double> EpochTrainAccuracy,
    double TrainSeconds, double ImagesPerSecond,
    IReadOnlyList<double> Predicted, double MeanPredicted, PredictorResult Ranking);

public sealed record StudyReport(DateTime Utc, string Machine, int Cores,
    string Preset, ulong Seed, int ValidationImages,
    double MeanStandAlone, double InWindowSpread, double ValidationStandardError,
    PredictorResult SeedToSeed, IReadOnlyList<SupernetResult> Supernets, IReadOnlyList<PredictorResult> Trivial);

/// <summary>
/// The study: full-space supernets (every candidate of every block, uniform single-path sampling, the search recipe)
/// trained one after the other in one invocation, each scoring every reference architecture by inherited weights;
/// their rankings against the stand-alone mean, beside trivial predictors and the seed-to-seed noise floor.
/// </summary>
public static class Study
{
    private static readonly JsonSerializerOptions Json = new(HourNasStages.Json) { IncludeFields = true };

    public static StudyReport Run(ArchitectureSpace space, ReferenceTable table,
        IReadOnlyList<SupernetVariant> variants,
        int validationImages, ulong seed, string work, bool reuse, Action<string> log)
    {
        var device = TorchRuntime.Initialize("cpu");
        var data = Datasets.Open(null, space.Skeleton);
        var archs = table.Architectures.Where(a => a.Runs.Count > 0).ToArray();
        var genotypes = archs.Select(a => space.Parse(a.Genotype)).ToArray();
        var truth = archs.Select(a => a.MeanTop1).ToArray();
        var window = archs.Select(a => a.InWindow).ToArray();
        // Every architecture fits a window of [0, 8] MFLOPs (the space tops out at 7.7): no candidate is pruned.
        var everything = Budget.FromMFlops(8.0, 0.0);
        var supernets = new List<SupernetResult>();
        var trainedNow = new HashSet<string>();
        foreach (var variant in variants)
        {
            var (name, sharing, epochs) = (variant.Name, variant.Sharing, variant.Epochs);
            log($"{name}: the full-space supernet, {epochs} epochs, batch {variant.BatchSize}, " +
                $"peak rate {variant.LearningRate}");
            var epochAccuracy = new List<double>();
            var ctx = new StageContext(device, data, Path.Combine(work, variant.TrainingKey), variant.Seed ?? seed,
                variant.Train, progress: p =>
                {
                    if (p.Phase == "epoch")
                    {
                        epochAccuracy.Add(p.Accuracy);
                        log($"{name}: epoch {p.Epoch} training top-1 {p.Accuracy:P1}, {p.ImagesPerSecond:F0} img/s");
                    }
                });
            var settings = new SearchSettings(Epochs: epochs, ValidationImages: validationImages,
                BatchNormBatches: variant.BatchNormBatches,
                Evolution: new EvolutionSettings(
                    Population: 2, Generations: 1, Parents: 1, Mutations: 1, Crossovers: 1),
                Sharing: sharing, NormPerCandidate: variant.NormPerCandidate,
                BalanceFamilies: variant.BalanceFamilies, KernelsApartBlocks: variant.KernelsApartBlocks);
            // A supernet this study already trained (same name, same folder) is scored again, not retrained; so is
            // one an earlier variant of this invocation trained the same way.
            var trained = ctx.PathFor("study-training.json");
            TrainResult training;
            if ((reuse || trainedNow.Contains(variant.TrainingKey)) && File.Exists(trained))
            {
                (training, epochAccuracy) =
                    JsonSerializer.Deserialize<(TrainResult, List<double>)>(File.ReadAllText(trained), Json);
                log($"{name}: reusing the supernet trained before in {ctx.OutputFolder}");
            }
            else
            {
                training = HourNasStages.SearchSpos(ctx, space, everything, settings).Training!;
                File.WriteAllText(trained, JsonSerializer.Serialize((training, epochAccuracy), Json));
                trainedNow.Add(variant.TrainingKey);
            }
            var predicted = HourNasStages.Predict(ctx, space, ctx.PathFor("supernet.dat"), genotypes, settings,
                fineTune: variant.FineTune).Select(a => variant.ByLoss ? Math.Exp(-a.Loss) : a.Top1).ToArray();
            log($"{name}: predicted {predicted.Min():P1}-{predicted.Max():P1}");
            supernets.Add(new SupernetResult(name, epochs, epochAccuracy, training.Seconds, training.ImagesPerSecond,
                predicted, predicted.Average(), Rank(name, predicted, truth, window)));
        }

        // The mean prediction of one recipe's runs under several seeds: how much of a supernet's ranking is the noise
        // of its one training run.
        foreach (var group in variants.Select((v, i) => (v, i)).GroupBy(x => x.v.Recipe).Where(g => g.Count() > 1))
        {
            var members = group.Select(x => supernets[x.i]).ToArray();
            var mean = Enumerable.Range(0, truth.Length).Select(a => members.Average(m => m.Predicted[a])).ToArray();
            var name = $"mean of {members.Length} runs: {string.Join(" + ", members.Select(m => m.Sharing))}";
            supernets.Add(new SupernetResult(name, members[0].Epochs, [], members.Sum(m => m.TrainSeconds),
                members.Average(m => m.ImagesPerSecond), mean, mean.Average(), Rank(name, mean, truth, window)));
        }

        var trivial = new List<PredictorResult>
        {
            Rank("FLOPs", archs.Select(a => a.MFlops).ToArray(), truth, window),
            Rank("parameters", archs.Select(a => (double)a.Params).ToArray(), truth, window),
        };
        // The best single-block rule: one block's kernel, expansion or depth (skip or not) as the score. Chosen on
        // this very set, so its tau is optimistic; a supernet should still beat it.
        var rules = new List<PredictorResult>();
        foreach (var b in space.Blocks)
        {
            double[] Feature(Func<Operation, double> f) => genotypes.Select(g => f(g.Blocks[b.Index])).ToArray();
            rules.Add(Rank($"kernel of block {b.Index}", Feature(o => o.Kernel), truth, window));
            rules.Add(Rank($"expansion of block {b.Index}", Feature(o => o.Expansion), truth, window));
            if (!space.IsVital[b.Index])
                rules.Add(Rank($"block {b.Index} present", Feature(o => o.IsSkip ? 0 : 1), truth, window));
        }
        var bestOverall = rules.Where(r => !double.IsNaN(r.Overall.Tau)).MaxBy(r => r.Overall.Tau)!;
        var bestInWindow = rules.Where(r => !double.IsNaN(r.InWindow.Tau)).MaxBy(r => r.InWindow.Tau)!;
        trivial.Add(bestOverall with { Name = $"best single-block rule overall: {bestOverall.Name}" });
        if (bestInWindow.Name != bestOverall.Name)
            trivial.Add(bestInWindow with { Name = $"best single-block rule in the window: {bestInWindow.Name}" });

        var paired = archs.Where(a => a.Runs.Any(r => r.Seed == 1) && a.Runs.Any(r => r.Seed == 2)).ToArray();
        var seedToSeed = Rank("stand-alone seed 1 vs seed 2",
            paired.Select(a => a.Runs.First(r => r.Seed == 1).Top1).ToArray(),
            paired.Select(a => a.Runs.First(r => r.Seed == 2).Top1).ToArray(),
            paired.Select(a => a.InWindow).ToArray());
        var inWindow = archs.Where(a => a.InWindow).Select(a => a.MeanTop1).ToArray();
        // One standard error of a top-1 near the reference accuracy measured on this many validation images.
        var p = truth.Average();
        return new StudyReport(DateTime.UtcNow, Environment.MachineName, Environment.ProcessorCount,
            table.Preset, seed, validationImages,
            p, inWindow.Max() - inWindow.Min(), Math.Sqrt(p * (1 - p) / validationImages),
            seedToSeed, supernets, trivial);
    }

    private static PredictorResult Rank(string name, IReadOnlyList<double> predicted, IReadOnlyList<double> truth,
        IReadOnlyList<bool> window)
    {
        var wp = predicted.Where((_, i) => window[i]).ToArray();
        var wt = truth.Where((_, i) => window[i]).ToArray();
        return new PredictorResult(name, Correlation.Of(predicted, truth, 5), Correlation.Of(wp, wt, 6));
    }

    public static string Markdown(StudyReport r, ReferenceTable table)
    {
        var sb = new StringBuilder();
        string C(Correlation c) => string.Create(CultureInfo.InvariantCulture,
            $"{c.Tau:F2} [{c.TauLow:F2}, {c.TauHigh:F2}] | {c.Rho:F2} [{c.RhoLow:F2}, {c.RhoHigh:F2}]");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Rank study on {r.Preset}, {r.Utc:yyyy-MM-dd}, {r.Cores} cores; supernet seed {r.Seed}, " +
            $"{r.ValidationImages} validation images per architecture.");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Reference set: {table.Architectures.Count} architectures " +
            $"({table.Architectures.Count(a => a.InWindow)} in " +
            $"[{table.WindowMinMFlops}, {table.WindowMaxMFlops}] MFLOPs), " +
            $"stand-alone mean test top-1 {r.MeanStandAlone:P2}; " +
            $"in-window spread {r.InWindowSpread * 100:F2} points; " +
            $"one validation standard error {r.ValidationStandardError * 100:F2} points.");
        sb.AppendLine();
        sb.AppendLine("| predictor | overall tau [95% CI] | overall rho [95% CI] | in-window tau [95% CI] | " +
            "in-window rho [95% CI] |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var p in new[] { r.SeedToSeed }.Concat(r.Supernets.Select(s => s.Ranking)).Concat(r.Trivial))
            sb.AppendLine($"| {p.Name} | {C(p.Overall)} | {C(p.InWindow)} |");
        sb.AppendLine();
        sb.AppendLine("| supernet | training top-1 per epoch | mean predicted | train seconds | images/s |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var s in r.Supernets)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Sharing} | {string.Join(", ", s.EpochTrainAccuracy.Select(a => $"{a * 100:F1}%"))} | " +
                $"{s.MeanPredicted:P2} | {s.TrainSeconds:F0} | {s.ImagesPerSecond:F0} |");
        sb.AppendLine();
        sb.Append(Picks.Markdown(r, table, [2, 3, 5]));
        return sb.ToString();
    }

    public static IReadOnlyList<string> Plot(StudyReport r, ReferenceTable table, string folder, string stem)
    {
        var archs = table.Architectures.Where(a => a.Runs.Count > 0).ToArray();
        var plot = new Plot();
        foreach (var s in r.Supernets)
        {
            var points = plot.Add.ScatterPoints(archs.Select(a => a.MeanTop1 * 100).ToArray(),
                s.Predicted.Select(p => p * 100).ToArray());
            points.MarkerSize = 9;
            points.LegendText = $"{s.Sharing} (tau {s.Ranking.Overall.Tau:F2})";
        }
        plot.Title($"Supernet-predicted vs stand-alone accuracy ({r.Preset}, {archs.Length} architectures)");
        plot.XLabel("stand-alone test top-1, mean of seeds (%)");
        plot.YLabel("inherited-weight validation top-1 (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return Plots.Save(plot, folder, stem);
    }
}
