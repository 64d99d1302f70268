using System.CommandLine;
using System.Text.Json;
using HourNas.Contracts;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.Pipeline;
using HourNas.SearchSpace;

namespace HourNas.Cli;

/// <summary><c>hournas stage NAME</c>: runs one stage from files, with no message bus.</summary>
internal static class StageCommand
{
    public static readonly string[] Names = ["ablation", "stage1", "stage2", "retrain", "spos", "random", "predict"];

    public static Command Create(HournasCli cli)
    {
        var name = new Argument<string>("name") { Description = $"the stage: {string.Join(", ", Names)}" };
        name.AcceptOnlyFromAmong(Names);
        var preset = HournasCli.Options.Preset(required: true);
        var genotype = new Option<string?>("--genotype", "-g")
        {
            Description = "the network for retrain and ablation: a name, a .json file or the text form",
        };
        var epochs = new Option<int?>("--epochs")
        {
            Description = "training epochs (default: 3 for search stages, 5 for retrain and ablation)",
        };
        var trainLimit = new Option<int?>("--train-limit")
        {
            Description = "use only this many training images (seeded subset), for quick runs",
        };
        var data = new Option<string?>("--data")
        {
            Description = "dataset folder (default for fashion-mnist: Debian's dataset-fashion-mnist)",
        };
        var budget = new BudgetOptions("FLOPs budget in millions, for search stages", fractionDefault: true);
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "output folder (default: out/<stage>)" };
        var resume = new Option<bool>("--resume") { Description = "continue from the checkpoint in the output folder" };
        var from = new Option<string?>("--from")
        {
            Description = "stage2: the stage-1 output folder (vital choices and supernet weights)",
        };
        var vital = new Option<string?>("--vital-genotype")
        {
            Description = "stage2: the vital operations, when not taken from --from",
        };
        var weights = new Option<string?>("--weights")
        {
            Description = "ablation: trained weights (.dat) instead of training first; predict: a saved supernet " +
                "(stage1/vital-supernet.dat, stage2/supernet.dat, spos/supernet.dat)",
        };
        var genotypes = new Option<string?>("--genotypes")
        {
            Description = "predict: a file of genotypes, one per line in text form ('#' starts a comment)",
        };
        var sharing = new Option<WeightSharing>("--weight-sharing")
        {
            Description = "stage1, stage2, spos: the supernet's candidates hold independent or entangled weights",
            DefaultValueFactory = _ => new SearchSettings().Sharing,
        };
        var rerank = new Option<int>("--rerank")
        {
            Description = "stage2, spos: fine-tune the evolution's best K candidates alone for a few steps and pick " +
                "by their new scores (0: by inherited accuracy)",
            DefaultValueFactory = _ => ExperimentSpecs.DefaultRerank,
        };
        var rankBy = new Option<CandidateRanking>("--rank-by")
        {
            Description = "stage1, stage2, spos: rank candidates by their validation loss or top1",
            DefaultValueFactory = _ => new SearchSettings().RankBy,
        };
        var kernelsApart = new Option<int>("--kernels-apart")
        {
            Description = "stage1, stage2, spos: how many leading blocks of the supernet hold each kernel size's " +
                "weights apart (0: shared everywhere)",
            DefaultValueFactory = _ => new SearchSettings().KernelsApartBlocks,
        };
        // Defaults from where they are defined: the engine's settings and the pipeline's spec defaults.
        var defaults = new SearchSettings();
        var batch = new Option<int>("--batch-size")
        {
            Description = "batch size",
            DefaultValueFactory = _ => ExperimentSpecs.DefaultBatchSize,
        };
        var lr = new Option<double>("--lr")
        {
            Description = "peak learning rate at the preset's reference batch (128 unless its recipe says; " +
                "scaled linearly with --batch-size)",
            DefaultValueFactory = _ => new ExperimentSpec().LearningRate,
        };
        var population = new Option<int?>("--population")
        {
            Description = $"evolution population (default {defaults.EvolutionOrDefault.Population})",
        };
        var generations = new Option<int?>("--generations")
        {
            Description = $"evolution generations (default {defaults.EvolutionOrDefault.Generations})",
        };
        var validationImages = new Option<int>("--validation-images")
        {
            Description = "validation images per candidate",
            DefaultValueFactory = _ => defaults.ValidationImages,
        };
        var randomCandidates = new Option<int>("--random-candidates")
        {
            Description = "random: architectures to train",
            DefaultValueFactory = _ => defaults.RandomCandidates,
        };
        var device = new Option<string?>("--device")
        {
            Description = "cpu, cuda or cuda:N (default: HOURNAS_DEVICE or cpu)",
        };
        var json = HournasCli.Options.Json();
        var command = new Command("stage",
            "run one stage from files: vital-block ablation, stage 1, stage 2, retraining, or a baseline")
        {
            name, preset, genotype, epochs, trainLimit, data, seed, output, resume, from, vital,
            weights, batch, lr, population, generations, validationImages, randomCandidates, device, json, genotypes,
            sharing, rerank, rankBy, kernelsApart,
        };
        budget.AddTo(command);
        command.SetAction(parse => cli.Guard(() =>
        {
            var stage = parse.GetValue(name)!;
            var skeleton = Presets.Skeleton(parse.GetValue(preset)!);
            var genotypeSpec = parse.GetValue(genotype);
            ArchitectureSpace space;
            Genotype? network = null;
            if (genotypeSpec is not null) (space, network) = Presets.Resolve(parse.GetValue(preset), genotypeSpec);
            else space = new ArchitectureSpace(skeleton);
            space = budget.Space(parse, space, (parse.GetValue(device) ?? "cpu").Split(':')[0]);
            if (stage is "retrain" or "ablation" && network is null)
                throw new SearchSpaceException($"stage {stage} needs --genotype");
            if (stage is "predict" && (parse.GetValue(weights) is null || parse.GetValue(genotypes) is null))
                throw new SearchSpaceException(
                    "stage predict needs --weights (a saved supernet) and --genotypes (a file)");
            var toScore = stage is "predict" ? ReadGenotypes(space, parse.GetValue(genotypes)!) : [];
            var window = budget.Read(parse);
            if (stage is "stage1" or "stage2" or "spos" or "random" && window is null)
                throw new SearchSpaceException(
                    $"stage {stage} needs a budget: --budget-mflops, --budget-mparams or --budget-ms");

            var outFolder = parse.GetValue(output) ?? Path.Combine("out", stage);
            var checkpoint = Path.Combine(outFolder, "checkpoint");
            if (!parse.GetValue(resume) && Directory.Exists(checkpoint)) Directory.Delete(checkpoint, recursive: true);

            var runtimeDevice = TorchRuntime.Initialize(parse.GetValue(device));
            var dataset = Datasets.Open(parse.GetValue(data), space.Skeleton);
            var train = new TrainSettings(Epochs: parse.GetValue(epochs) ?? (stage is "retrain" or "ablation" ? 5 : 3),
                BatchSize: parse.GetValue(batch), LearningRate: parse.GetValue(lr),
                ReferenceBatchSize:
                    space.Skeleton.Recipe?.ReferenceBatchSize ?? TrainSettings.DefaultReferenceBatchSize);
            var search = SearchSettings.Create(train.Epochs, parse.GetValue(validationImages),
                budget.Fraction(parse)!.Value, parse.GetValue(population), parse.GetValue(generations),
                parse.GetValue(randomCandidates)) with
            {
                Sharing = parse.GetValue(sharing),
                RankBy = parse.GetValue(rankBy),
                Rerank = parse.GetValue(rerank) is >= 0 and <= 1_000 and var k ? k
                    : throw new SearchSpaceException($"--rerank must be in [0, 1000], got {parse.GetValue(rerank)}"),
                KernelsApartBlocks = parse.GetValue(kernelsApart) is var n && n >= 0 && n <= space.Blocks.Count ? n
                    : throw new SearchSpaceException(
                        $"--kernels-apart must be in [0, {space.Blocks.Count}] for preset '{space.Skeleton.Name}', " +
                        $"got {parse.GetValue(kernelsApart)}"),
            };
            var ctx = new StageContext(runtimeDevice, dataset, outFolder, parse.GetValue(seed), train,
                parse.GetValue(trainLimit), p => cli.Error.WriteLine(FormatProgress(p)));

            object result = stage switch
            {
                "stage1" => HourNasStages.SearchVitalBlocks(ctx, space, window!, search),
                "stage2" => RunStage2(ctx, space, window!, search, parse.GetValue(from), parse.GetValue(vital)),
                "spos" => HourNasStages.SearchSpos(ctx, space, window!, search),
                "random" => HourNasStages.SearchRandom(ctx, space, window!, search),
                "retrain" => HourNasStages.Retrain(ctx, space, network!),
                "ablation" => HourNasStages.Ablate(ctx, space, network!, parse.GetValue(weights)),
                "predict" => Predict(ctx, space, parse.GetValue(weights)!, toScore, search),
                _ => throw new SearchSpaceException($"unknown stage '{stage}'"),
            };
            if (parse.GetValue(json))
                cli.Out.WriteLine(JsonSerializer.Serialize(result, result.GetType(), HourNasStages.Json));
            else cli.Out.WriteLine(Summary(result, outFolder));
            return 0;
        }));
        return command;
    }

    private static SearchResult RunStage2(StageContext ctx, ArchitectureSpace space, Budget budget,
        SearchSettings search, string? from, string? vitalSpec)
    {
        string? weights = null;
        if (from is not null)
        {
            var resultFile = Path.Combine(from, "result.json");
            if (!File.Exists(resultFile)) throw new FileNotFoundException($"'{from}' holds no stage-1 result.json");
            var stage1 = JsonSerializer.Deserialize<VitalSearchResult>(File.ReadAllText(resultFile), HourNasStages.Json)
                ?? throw new InvalidDataException($"{resultFile}: empty");
            if (stage1.Preset != space.Skeleton.Name)
                throw new SearchSpaceException(
                    $"{resultFile} is a stage-1 result for preset '{stage1.Preset}', not '{space.Skeleton.Name}'");
            vitalSpec ??= stage1.VitalOperations;
            weights = Path.Combine(from, "vital-supernet.dat");
        }
        if (vitalSpec is null)
            throw new SearchSpaceException(
                "stage2 needs the vital choices: --from <stage-1 folder> or --vital-genotype");
        return HourNasStages.SearchNonVitalBlocks(ctx, space, budget, Presets.ResolveVitalChoices(space, vitalSpec),
            weights, search);
    }

    /// <summary>What <c>stage predict</c> prints: one prediction per genotype of the file, in file order.</summary>
    internal sealed record PredictionList(string Weights, int ValidationImages, IReadOnlyList<Prediction> Predictions);

    /// <summary>One genotype's prediction: validation top-1 and loss (the search ranks by the loss).</summary>
    internal sealed record Prediction(string Genotype, double MFlops, long Params, double Accuracy, double Loss);

    private static PredictionList Predict(StageContext ctx, ArchitectureSpace space, string weights,
        IReadOnlyList<(int Line, Genotype Genotype)> genotypes, SearchSettings search)
    {
        var scores = HourNasStages.Predict(ctx, space, weights, genotypes.Select(g => g.Genotype).ToArray(),
            search, genotypes.Select(g => $"line {g.Line}").ToArray());
        return new PredictionList(weights, search.ValidationImages, genotypes.Select((g, i) =>
        {
            var cost = space.Costs.Of(g.Genotype).Total;
            return new Prediction(g.Genotype.ToString(), cost.MFlops, cost.Params, scores[i].Top1, scores[i].Loss);
        }).ToArray());
    }

    /// <summary>The genotypes of a file, one per line in text form; blank lines and '#' comments are skipped.</summary>
    internal static IReadOnlyList<(int Line, Genotype Genotype)> ReadGenotypes(ArchitectureSpace space, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"genotypes file '{path}' does not exist", path);
        var info = new FileInfo(path);
        const long maxBytes = 16 << 20;
        if (info.Length > maxBytes)
            throw new InvalidDataException(
                $"genotypes file '{path}' is {info.Length:N0} bytes; at most {maxBytes:N0} are read");
        var result = new List<(int, Genotype)>();
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].Split('#', 2)[0].Trim();
            if (text.Length == 0) continue;
            try
            {
                result.Add((i + 1, space.Parse(text)));
            }
            catch (SearchSpaceException e)
            {
                throw new SearchSpaceException($"{path} line {i + 1}: {e.Message}");
            }
        }
        if (result.Count == 0) throw new SearchSpaceException($"genotypes file '{path}' holds no genotype");
        return result;
    }

    internal static string FormatProgress(Progress p) =>
        FormatProgress(p.Stage, p.Phase, p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, p.Accuracy, p.ImagesPerSecond,
            p.Seconds);

    /// <summary>One progress line, the same for a stage run alone and for a pipeline run.</summary>
    internal static string FormatProgress(string stage, string phase, int epoch, int epochs, int step, int steps,
        double loss, double accuracy, double imagesPerSecond, double seconds) => phase switch
        {
            "started" => epoch > 0
                ? $"[{stage}] resumed after epoch {epoch}/{epochs}"
                : $"[{stage}] training {epochs} epochs of {steps} steps",
            "train" => $"[{stage}] epoch {epoch}/{epochs} step {step}/{steps} loss {loss:F3} acc {accuracy:P1} " +
                $"{imagesPerSecond:F0} img/s {seconds:F0}s",
            "epoch" => $"[{stage}] epoch {epoch}/{epochs} done: loss {loss:F3} acc {accuracy:P1} " +
                $"{imagesPerSecond:F0} img/s {seconds:F0}s",
            _ => $"[{stage}] {phase} {step}/{steps} acc {accuracy:P2} {seconds:F0}s",
        };

    private static string Summary(object result, string folder) => result switch
    {
        VitalSearchResult r =>
            $"stage 1: vital blocks {string.Join(' ', r.VitalBlocks)} -> {r.VitalOperations} " +
            $"(validation top-1 {r.ValidationAccuracy:P2}, {r.Evaluated.Count} candidates, {r.Cost.Seconds:F0} s); " +
            $"output in {folder}",
        SearchResult r =>
            $"{r.Method}: {r.Genotype} ({r.MFlops:F2} MFLOPs, {r.Params:N0} params, " +
            $"validation top-1 {r.ValidationAccuracy:P2}, {r.Evaluated.Count} candidates, " +
            $"search {r.Cost.Seconds:F0} s); output in {folder}",
        RetrainResult r =>
            $"retrain: {r.Genotype} ({r.MFlops:F2} MFLOPs, {r.Params:N0} params): test top-1 {r.Top1:P2}, " +
            $"top-5 {r.Top5:P2}, latency {r.LatencyMilliseconds:F2} ms, {r.ImagesPerSecond:F0} img/s, " +
            $"{r.Cost.Seconds:F0} s; weights {r.Weights}, {r.PyTorchWeights}, {r.Onnx}" +
            (r.BatchNorm is { } bn
                ? $"{Environment.NewLine}note: {bn.Steps} training steps, fewer than {bn.MinSteps}: BatchNorm " +
                    $"statistics re-estimated on {bn.Batches} training batches before testing"
                : ""),
        AblationResult r => string.Join(Environment.NewLine,
            [$"ablation of {r.Genotype}: baseline test top-1 {r.BaselineTop1:P2}", .. r.Blocks.Select(b =>
                $"  block {b.Block,2} (stage {b.Stage}, {b.Operation}{(b.Vital ? ", vital" : "")}): " +
                $"top-1 {b.Top1:P2}, drop {b.Drop * 100:F2} points")]),
        PredictionList r => string.Join(Environment.NewLine,
            [$"supernet {r.Weights}: validation top-1 and loss on {r.ValidationImages} images",
                .. r.Predictions.Select(p => $"  {p.Accuracy:P2}  {p.Loss:F4}  {p.MFlops:F2} MFLOPs  {p.Genotype}")]),
        _ => result.ToString() ?? "",
    };
}
