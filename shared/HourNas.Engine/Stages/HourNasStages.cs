using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using HourNas.Engine.Export;
using HourNas.Engine.Networks;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HourNas.Engine.Stages;

/// <summary>
/// The HourNAS stages and the baselines, each a function of typed inputs to a typed result, with its artifacts
/// written to the context's output folder (result.json, genotype.json, candidates.csv, weights, checkpoint/).
/// </summary>
public static class HourNasStages
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// Stage 1, the neck: train the vital supernet (non-vital blocks removed) by uniform single-path sampling,
    /// then evolve the vital choices, keeping only those that leave the bulbs an affordable completion.
    /// </summary>
    public static VitalSearchResult SearchVitalBlocks(StageContext ctx, ArchitectureSpace space, Budget budget,
        SearchSettings settings) => SearchVitalBlocks(ctx, space, [budget], settings).Members[0];

    /// <summary>
    /// Stage 1 for a family: the vital supernet's training depends on no budget, so it is trained once; then one
    /// evolution per budget, each admitting only the vital choices that leave its bulbs an affordable completion.
    /// With more than one budget each member's result goes to its own subfolder (member-1, ...); a member's cost is
    /// the shared training plus its own evolution.
    /// </summary>
    public static FamilySearch<VitalSearchResult> SearchVitalBlocks(StageContext ctx, ArchitectureSpace space,
        IReadOnlyList<Budget> budgets, SearchSettings settings)
    {
        if (budgets.Count == 0) throw new ArgumentException("at least one budget is needed", nameof(budgets));
        var clock = Stopwatch.StartNew();
        using var net = TorchRuntime.Seeded(ctx.Seed, () => SuperNet.Vital(space, settings.Sharing,
            settings.NormPerCandidate, settings.KernelsApart(space)));
        var scorer = CandidateScorer.Create(ctx, settings);
        var options = net.Options;
        var counts = options.Select(o => o.Count).ToArray();
        var costs = space.Costs;
        Cost NeckCost(int[] c) =>
            space.VitalBlocks.Aggregate(costs.Fixed, (sum, b) => sum + costs.Block(b, options[b][c[b]]));
        var admissions = budgets.Select(b => new NeckAdmission(space, b, settings.MinBulbShare)).ToArray();
        var neckChoices = space.VitalBlocks.Aggregate(1L, (n, b) => n * options[b].Count);
        for (var m = 0; m < budgets.Count; m++)
        {
            var admission = admissions[m];
            if (neckChoices <= 100_000 && !Choices.All(counts).Any(c => admission.Admits(NeckCost(c))))
                throw new SearchSpaceException(
                    $"impossible budget {budgets[m]}: no vital choice of '{space.Skeleton.Name}' leaves " +
                    $"{settings.MinBulbShare:P0} of the bulbs' architectures inside the window");
        }

        var training = new Trainer(net, ctx.Train with { Epochs = settings.Epochs }, ctx.Device, "stage1", ctx.Seed,
                ctx.PathFor("checkpoint"), ctx.Progress)
            .Train(scorer.SearchTrain, ctx.Normalization, TrainingDraw(options, counts, space.Skeleton.Style, settings),
                ctx.Cancellation);
        var weights = ctx.PathFor("vital-supernet.dat");
        net.save(weights);
        var trainCost = new StageCost(clock.Elapsed.TotalSeconds, training.ImagesSeen, scorer.EvalImages);

        var members = new List<VitalSearchResult>();
        var evaluations = settings.EvolutionOrDefault.MaxEvaluations * budgets.Count;
        var scored = 0;
        for (var m = 0; m < budgets.Count; m++)
        {
            var memberClock = Stopwatch.StartNew();
            var evalImagesBefore = scorer.EvalImages;
            var admission = admissions[m];
            bool Affordable(int[] c) => admission.Admits(NeckCost(c));
            var evaluated = new List<EvaluatedCandidate>();
            var evolution = new EvolutionarySearch(counts, Affordable, settings.EvolutionOrDefault);
            var result = evolution.Run(c =>
                {
                    var accuracy = scorer.Evaluate(net, c);
                    var neck = NeckCost(c);
                    evaluated.Add(new EvaluatedCandidate(VitalText(space, options, c), neck.MFlops, neck.Params,
                        accuracy.Top1, 0, Loss: accuracy.Loss));
                    ReportSearch(ctx, "stage1", ++scored, evaluations, accuracy.Top1, clock);
                    return settings.RankingScore(accuracy.Top1, accuracy.Loss);
                },
                rng => SampleUntil(counts, Affordable, rng), new Rng(Rng.Derive(ctx.Seed, 11)),
                cancellation: ctx.Cancellation);
            Regenerate(evaluated, result);
            var cost = trainCost + new StageCost(memberClock.Elapsed.TotalSeconds, 0,
                scorer.EvalImages - evalImagesBefore);
            var bestText = VitalText(space, options, result.Best.Choice);
            var vitalResult = new VitalSearchResult(space.Skeleton.Name, budgets[m].MaxMFlops, space.VitalBlocks,
                bestText, Top1Of(evaluated, bestText), training, evaluated, cost, weights, budgets[m].ToString());
            WriteResult(MemberContext(ctx, budgets.Count, m), vitalResult, evaluated);
            members.Add(vitalResult);
        }
        return new FamilySearch<VitalSearchResult>(members,
            new StageCost(clock.Elapsed.TotalSeconds, training.ImagesSeen, scorer.EvalImages));
    }

    /// <summary>Where member <paramref name="m"/> writes: its own subfolder, or the stage's for one.</summary>
    private static StageContext MemberContext(StageContext ctx, int members, int m) =>
        members == 1 ? ctx : ctx.InFolder(MemberFolder(m));

    /// <summary>The subfolder of member <paramref name="m"/> (0-based) in a family stage's folder.</summary>
    public static string MemberFolder(int m) => $"member-{m + 1}";

    /// <summary>
    /// Stage 2, the bulbs: vital blocks fixed to stage 1's choice and warm-started from the vital supernet, the
    /// non-vital blocks shrunk to the budget; paths are drawn only from the max-entropy proposal; then a
    /// constrained evolution inside the budget window picks the final genotype.
    /// </summary>
    public static SearchResult SearchNonVitalBlocks(StageContext ctx, ArchitectureSpace space, Budget budget,
        IReadOnlyDictionary<int, Operation> vitalChoices, string? vitalSupernetWeights, SearchSettings settings) =>
        SearchNonVitalBlocks(ctx, space, [budget], [vitalChoices], vitalSupernetWeights, settings).Members[0];

    /// <summary>
    /// Stage 2 for a family: each member's space shrunk to its budget around its own vital choice, and one supernet
    /// over all of them (each block holds every operation some member allows), trained once: each step draws a
    /// member uniformly, then a path from that member's max-entropy proposal. Then one evolution per member inside
    /// its own window. This sharing is ours, not the paper's: with entangled weights the members' paths share their
    /// kernels' centres and channel prefixes, as in Once-for-All, so one training serves every budget.
    /// </summary>
    public static FamilySearch<SearchResult> SearchNonVitalBlocks(StageContext ctx, ArchitectureSpace space,
        IReadOnlyList<Budget> budgets, IReadOnlyList<IReadOnlyDictionary<int, Operation>> vitalChoices,
        string? vitalSupernetWeights, SearchSettings settings)
    {
        if (budgets.Count == 0 || budgets.Count != vitalChoices.Count)
            throw new ArgumentException(
                $"one vital choice per budget is needed, got {vitalChoices.Count} for {budgets.Count}");
        var shrunk = budgets.Select((b, m) => SpaceShrinker.Shrink(space, b, vitalChoices[m])).ToArray();
        var proposals = shrunk.Select(s => Proposal.MaxEntropy(s, settings.TargetMFlops * 1e6)).ToArray();
        // The stage-2 supernet keeps the vital supernet's kernels-apart layout, whatever these settings say, so it
        // inherits every weight stage 1 trained (read from the file's headers: nothing is built before the seed).
        var kernelsApart = vitalSupernetWeights is null
            ? settings.KernelsApart(space)
            : SupernetFile.KernelsApart(space, vitalSupernetWeights);
        return SearchWithSupernet(ctx, "hournas", shrunk, proposals, settings, kernelsApart,
            vitalSupernetWeights is null ? null : net =>
            {
                using var vital = SupernetFile.Open(space, vitalSupernetWeights);
                net.InheritFrom(vital);
            });
    }

    /// <summary>
    /// Baseline: Single Path One-Shot over the whole space at once: one supernet over every block and candidate
    /// (less candidates no architecture in the window can use), budget-filtered uniform path sampling, the same
    /// evolution.
    /// </summary>
    public static SearchResult SearchSpos(StageContext ctx, ArchitectureSpace space, Budget budget,
        SearchSettings settings)
    {
        var shrunk = SpaceShrinker.Shrink(space, budget);
        return SearchWithSupernet(ctx, "spos", [shrunk], [Proposal.Uniform(shrunk)], settings,
            settings.KernelsApart(space), null).Members[0];
    }

    /// <summary>
    /// Baseline: random search: sample architectures uniformly inside the window, short-train each from scratch,
    /// keep the best.
    /// </summary>
    public static SearchResult SearchRandom(StageContext ctx, ArchitectureSpace space, Budget budget,
        SearchSettings settings)
    {
        var clock = Stopwatch.StartNew();
        var shrunk = SpaceShrinker.Shrink(space, budget);
        var sampler = new ArchitectureSampler(Proposal.Uniform(shrunk));
        var scorer = CandidateScorer.Create(ctx, settings);
        var rng = new Rng(Rng.Derive(ctx.Seed, 21));
        var evaluated = new List<EvaluatedCandidate>();
        long trainImages = 0;
        var seen = new HashSet<string>();
        for (var i = 0; i < settings.RandomCandidates; i++)
        {
            var choice = sampler.Sample(rng);
            var genotype = shrunk.ToGenotype(choice);
            if (!seen.Add(genotype.ToString())) continue;
            var (accuracy, images) = ShortTrainAccuracy(ctx, space, genotype, settings.Epochs, scorer,
                Rng.Derive(ctx.Seed, 22, (ulong)i), $"random {i + 1}/{settings.RandomCandidates}");
            trainImages += images;
            var cost = space.Costs.Of(genotype).Total;
            evaluated.Add(new EvaluatedCandidate(genotype.ToString(), cost.MFlops, cost.Params, accuracy, 0));
            ReportSearch(ctx, "random", i + 1, settings.RandomCandidates, accuracy, clock);
        }
        var best = evaluated.MaxBy(e => e.Accuracy)!;
        var result = new SearchResult("random", space.Skeleton.Name, best.Genotype, best.MFlops, best.Params,
            best.Accuracy, shrunk.MFlopsWindow.Max, shrunk.MFlopsWindow.Min, shrunk.ArchitecturesInWindow.ToString(),
            shrunk.ShrinkRatio, sampler.AcceptanceRate, null, evaluated,
            new StageCost(clock.Elapsed.TotalSeconds, trainImages, scorer.EvalImages), budget.ToString());
        WriteResult(ctx, result, evaluated);
        WriteGenotype(ctx, space, space.Parse(best.Genotype));
        return result;
    }

    /// <summary>
    /// Final retraining: the genotype from scratch on the whole training set; test top-1/top-5, CPU latency at
    /// batch 1; the weights in TorchSharp's format (weights.dat), PyTorch's (weights.pth, a state dict with the
    /// input normalisation) and ONNX (model.onnx, raw pixels in); the model card (model.json).
    /// </summary>
    public static RetrainResult Retrain(StageContext ctx, ArchitectureSpace space, Genotype genotype)
    {
        var clock = Stopwatch.StartNew();
        using var net = TorchRuntime.Seeded(ctx.Seed, () => SuperNet.Child(space, genotype));
        var train = ctx.Train with
        {
            WeightAverageDecay = ctx.Train.WeightAverageDecay ?? space.Skeleton.Recipe?.WeightAverage,
        };
        var training = new Trainer(net, train, ctx.Device, "retrain", ctx.Seed, ctx.PathFor("checkpoint"),
                ctx.Progress)
            .Train(ctx.FullTrain, ctx.Normalization, cancellation: ctx.Cancellation);
        var batchNorm = ReestimateBatchNormIfShort(ctx, space, net, training);
        var accuracy = Evaluator.Evaluate(net, ctx.Data.Test, ctx.Normalization, ctx.Device,
            channelsLast: ctx.Train.ChannelsLast);
        var latency = Evaluator.LatencyMilliseconds(net, space.Skeleton, ctx.Device);
        var weights = ctx.PathFor(ModelFiles.Default.TorchSharp);
        var pyWeights = ctx.PathFor(ModelFiles.Default.PyTorch);
        var onnx = ctx.PathFor(ModelFiles.Default.Onnx);
        net.save(weights);
        PyTorchExport.Save(net, ctx.Normalization, pyWeights);
        OnnxExport.Write(net, ctx.Normalization, onnx);
        WriteGenotype(ctx, space, genotype);
        var cost = space.Costs.Of(genotype).Total;
        var result = new RetrainResult(space.Skeleton.Name, genotype.ToString(), cost.MFlops, cost.Params,
            accuracy.Top1, accuracy.Top5, latency, training.ImagesPerSecond, training,
            new StageCost(clock.Elapsed.TotalSeconds, training.ImagesSeen, accuracy.Images), weights, pyWeights,
            onnx, batchNorm);
        WriteResult(ctx, result, null);
        ModelCard.Create(ctx, space, result).Write(ctx.PathFor(ModelCard.FileName));
        return result;
    }

    /// <summary>
    /// A short training leaves BatchNorm's running statistics describing its first steps' weights: re-estimated on
    /// training batches (the weights stay) when the run had fewer steps than the preset's
    /// <see cref="Recipe.BatchNormMinSteps"/>, so the test measures the weights, not the lag. Null when not needed.
    /// </summary>
    private static BatchNormNote? ReestimateBatchNormIfShort(StageContext ctx, ArchitectureSpace space,
        SuperNet net, TrainResult training)
    {
        var minSteps = space.Skeleton.Recipe?.BatchNormMinSteps ?? Recipe.DefaultBatchNormMinSteps;
        var steps = (training.ImagesSeen + ctx.Train.BatchSize - 1) / ctx.Train.BatchSize;
        if (steps >= minSteps) return null;
        // As many batches as the cumulative average needs to settle, never more than one pass over the data.
        var batches = (int)Math.Clamp((ctx.FullTrain.Count + ctx.Train.BatchSize - 1) / ctx.Train.BatchSize, 1, 50);
        Evaluator.RecalibrateBatchNorm(net, ctx.FullTrain, ctx.Normalization, ctx.Device, batches,
            ctx.Train.BatchSize, ctx.Seed, ctx.Train.ChannelsLast);
        return new BatchNormNote(steps, minSteps, batches);
    }

    /// <summary>
    /// Vital-block ablation: on a trained network (trained here, or loaded from <paramref name="weights"/>),
    /// disable one block at a time (a shortcut block passes its input through, a vital block outputs zeros) and
    /// measure test top-1.
    /// </summary>
    public static AblationResult Ablate(StageContext ctx, ArchitectureSpace space, Genotype genotype, string? weights)
    {
        var clock = Stopwatch.StartNew();
        using var net = TorchRuntime.Seeded(ctx.Seed, () => SuperNet.Child(space, genotype));
        long trainImages = 0;
        if (weights is not null)
        {
            if (!File.Exists(weights)) throw new FileNotFoundException($"weights file '{weights}' does not exist");
            net.load(weights);
        }
        else
        {
            var training = new Trainer(net, ctx.Train, ctx.Device, "ablation", ctx.Seed, ctx.PathFor("checkpoint"),
                    ctx.Progress)
                .Train(ctx.FullTrain, ctx.Normalization, cancellation: ctx.Cancellation);
            trainImages = training.ImagesSeen;
            ReestimateBatchNormIfShort(ctx, space, net, training);
        }
        var test = ctx.Data.Test;
        var baseline = Evaluator.Evaluate(net, test, ctx.Normalization, ctx.Device,
            channelsLast: ctx.Train.ChannelsLast);
        long evalImages = baseline.Images;
        var rows = new List<AblationRow>();
        // Progress counts the blocks that can be disabled: a skip block has nothing to disable.
        var ablatable = space.Blocks.Count(b => net.Blocks[b.Index].ActiveModule is not null);
        foreach (var block in space.Blocks)
        {
            if (net.Blocks[block.Index].ActiveModule is not { } module) continue;
            module.Ablated = true;
            var accuracy = Evaluator.Evaluate(net, test, ctx.Normalization, ctx.Device,
                channelsLast: ctx.Train.ChannelsLast);
            module.Ablated = false;
            evalImages += accuracy.Images;
            rows.Add(new AblationRow(block.Index, block.Stage + 1, genotype.Blocks[block.Index].ToString(),
                space.IsVital[block.Index], accuracy.Top1, baseline.Top1 - accuracy.Top1));
            ctx.Progress?.Invoke(new Progress("ablation", "ablate", 1, 1, rows.Count, ablatable, double.NaN,
                accuracy.Top1, 0,
                clock.Elapsed.TotalSeconds));
        }
        var result = new AblationResult(space.Skeleton.Name, genotype.ToString(), baseline.Top1, rows,
            new StageCost(clock.Elapsed.TotalSeconds, trainImages, evalImages));
        WriteResult(ctx, result, null);
        File.WriteAllLines(ctx.PathFor("ablation.csv"),
            ["block,stage,operation,vital,top1,drop", .. rows.Select(r => string.Create(CultureInfo.InvariantCulture,
                $"{r.Block},{r.Stage},{r.Operation},{r.Vital},{r.Top1:F4},{r.Drop:F4}"))]);
        return result;
    }

    /// <summary>
    /// Supernet-predicted validation accuracy of genotypes: weights inherited from a saved supernet (any of the
    /// stages', read by <see cref="SupernetFile"/>), BatchNorm re-estimated per genotype, top-1 on the held-out
    /// validation split; the one-shot estimate a search ranks by. Every genotype is checked before any is scored:
    /// one the supernet cannot run is a <see cref="SearchSpaceException"/> naming it (by <paramref name="names"/>, else
    /// its position) and the block. Use the seed and training-image limit of the stage that trained the supernet:
    /// they fix the held-out split, so the scored images are ones the supernet never trained on. With
    /// <paramref name="fineTune"/>, each path first trains alone for a few steps (docs/results.md measures whether
    /// that ranks better than inherited weights alone, and than the same steps from scratch).
    /// </summary>
    public static IReadOnlyList<double> PredictAccuracy(StageContext ctx, ArchitectureSpace space,
        string supernetWeights, IReadOnlyList<Genotype> genotypes, SearchSettings settings,
        IReadOnlyList<string>? names = null, FineTune? fineTune = null) =>
        Predict(ctx, space, supernetWeights, genotypes, settings, names, fineTune).Select(a => a.Top1).ToArray();

    /// <summary>
    /// <see cref="PredictAccuracy"/> with each genotype's whole evaluation (top-1, top-5, validation loss).
    /// </summary>
    public static IReadOnlyList<Accuracy> Predict(StageContext ctx, ArchitectureSpace space,
        string supernetWeights, IReadOnlyList<Genotype> genotypes, SearchSettings settings,
        IReadOnlyList<string>? names = null, FineTune? fineTune = null)
    {
        fineTune?.Validate();
        using var net = SupernetFile.Open(space, supernetWeights);
        for (var i = 0; i < genotypes.Count; i++)
        {
            var name = names?[i] ?? $"genotype {i + 1}";
            try
            {
                space.Validate(genotypes[i]);
            }
            catch (SearchSpaceException e)
            {
                throw new SearchSpaceException($"{name}: {e.Message}");
            }
            if (net.CannotRun(genotypes[i]) is { } why)
                throw new SearchSpaceException($"{name} ({genotypes[i]}): {why}");
        }
        net.to(ctx.Device);
        var scorer = CandidateScorer.Create(ctx, settings);
        // One seed for every genotype: each fine-tunes on the same images in the same order.
        var fineTuneSeed = Rng.Derive(ctx.Seed, 83);
        return genotypes.Select(g => fineTune is null ? scorer.Evaluate(net, net.PathOf(g))
            : scorer.EvaluateFineTuned(net, space, g, fineTune, fineTuneSeed)).ToArray();
    }

    /// <summary>
    /// Validation accuracy of a genotype trained from scratch for a few epochs on the search split (stand-alone
    /// accuracy).
    /// </summary>
    public static IReadOnlyList<double> StandAloneAccuracy(StageContext ctx, ArchitectureSpace space,
        IReadOnlyList<Genotype> genotypes, int epochs, SearchSettings settings)
    {
        var scorer = CandidateScorer.Create(ctx, settings);
        return genotypes.Select((g, i) => ShortTrainAccuracy(ctx, space, g, epochs, scorer,
            Rng.Derive(ctx.Seed, 31, (ulong)i), $"stand-alone {i + 1}/{genotypes.Count}").Accuracy).ToArray();
    }

    private static (double Accuracy, long TrainImages) ShortTrainAccuracy(StageContext ctx, ArchitectureSpace space,
        Genotype genotype, int epochs, CandidateScorer scorer, ulong seed, string stage)
    {
        using var net = TorchRuntime.Seeded(seed, () => SuperNet.Child(space, genotype));
        var training = new Trainer(net, ctx.Train with { Epochs = epochs }, ctx.Device, stage, seed,
                progress: ctx.Progress)
            .Train(scorer.SearchTrain, ctx.Normalization, cancellation: ctx.Cancellation);
        return (scorer.Score(net, new int[space.Blocks.Count]), training.ImagesSeen);
    }

    /// <summary>
    /// One supernet over the members' spaces (their union; a single member's own), trained once, then one evolution
    /// per member. Each member's choice indices point into its own space and are mapped to the supernet's options.
    /// </summary>
    private static FamilySearch<SearchResult> SearchWithSupernet(StageContext ctx, string method,
        IReadOnlyList<ShrunkSpace> shrunk, IReadOnlyList<Proposal> proposals, SearchSettings settings,
        IReadOnlySet<int> kernelsApart, Action<SuperNet>? warmStart)
    {
        var clock = Stopwatch.StartNew();
        var space = shrunk[0].Space;
        var stage = method == "hournas" ? "stage2" : method;
        var options = UnionOptions(shrunk);
        using var net = TorchRuntime.Seeded(ctx.Seed, () => new SuperNet(space, options, settings.Sharing,
            countSteps: true, normPerCandidate: settings.NormPerCandidate, kernelsApart: kernelsApart));
        warmStart?.Invoke(net);
        var scorer = CandidateScorer.Create(ctx, settings);
        var samplers = proposals.Select(p => new ArchitectureSampler(p)).ToArray();
        var trainingSamplers = settings.BalanceFamilies
            ? proposals.Select(p => new ArchitectureSampler(p.WithFamiliesBalanced(space.Skeleton.Style))).ToArray()
            : samplers;
        var paths = shrunk.Select(s => s.Allowed.Select((allowed, b) =>
            allowed.Select(op => ChoiceBlock.IndexOf(options[b], op)).ToArray()).ToArray()).ToArray();
        int[] PathOf(int m, int[] choice) => choice.Select((i, b) => paths[m][b][i]).ToArray();
        // One member draws exactly as a lone search always has; a family first draws the member.
        Func<Rng, int[]> draw = shrunk.Count == 1
            ? rng => trainingSamplers[0].Sample(rng)
            : rng =>
            {
                var m = rng.NextInt(shrunk.Count);
                return PathOf(m, trainingSamplers[m].Sample(rng));
            };
        var training = new Trainer(net, ctx.Train with { Epochs = settings.Epochs }, ctx.Device, stage, ctx.Seed,
                ctx.PathFor("checkpoint"), ctx.Progress)
            .Train(scorer.SearchTrain, ctx.Normalization, draw, ctx.Cancellation);
        net.save(ctx.PathFor("supernet.dat"));
        var trainCost = new StageCost(clock.Elapsed.TotalSeconds, training.ImagesSeen, scorer.EvalImages);

        var members = new List<SearchResult>();
        var evaluations = settings.EvolutionOrDefault.MaxEvaluations * shrunk.Count;
        var scored = 0;
        for (var m = 0; m < shrunk.Count; m++)
        {
            var member = shrunk[m];
            var sampler = samplers[m];
            var memberClock = Stopwatch.StartNew();
            var evalImagesBefore = scorer.EvalImages;
            var evaluated = new List<EvaluatedCandidate>();
            var evolution = new EvolutionarySearch(member.Allowed.Select(a => a.Count).ToArray(), member.InWindow,
                settings.EvolutionOrDefault);
            var index = m;
            var result = evolution.Run(c =>
                {
                    var accuracy = scorer.Evaluate(net, PathOf(index, c));
                    var genotype = member.ToGenotype(c);
                    var cost = space.Costs.Of(genotype).Total;
                    evaluated.Add(new EvaluatedCandidate(genotype.ToString(), cost.MFlops, cost.Params, accuracy.Top1,
                        0, Loss: accuracy.Loss));
                    ReportSearch(ctx, stage, ++scored, evaluations, accuracy.Top1, clock);
                    return settings.RankingScore(accuracy.Top1, accuracy.Loss);
                },
                rng => sampler.Sample(rng), new Rng(Rng.Derive(ctx.Seed, 12)), cancellation: ctx.Cancellation);
            Regenerate(evaluated, result);

            var best = member.ToGenotype(result.Best.Choice);
            var fitness = Top1Of(evaluated, best.ToString());
            if (settings.Rerank > 0)
                (best, fitness) = Rerank(ctx, stage, net, space, scorer, evaluated, settings, clock);
            var bestCost = space.Costs.Of(best).Total;
            var searchResult = new SearchResult(method, space.Skeleton.Name, best.ToString(), bestCost.MFlops,
                bestCost.Params, fitness, member.MFlopsWindow.Max, member.MFlopsWindow.Min,
                member.ArchitecturesInWindow.ToString(), member.ShrinkRatio, sampler.AcceptanceRate, training,
                evaluated,
                trainCost + new StageCost(memberClock.Elapsed.TotalSeconds, 0, scorer.EvalImages - evalImagesBefore),
                member.Budget.ToString());
            var memberContext = MemberContext(ctx, shrunk.Count, m);
            WriteResult(memberContext, searchResult, evaluated);
            WriteGenotype(memberContext, space, best);
            members.Add(searchResult);
        }
        return new FamilySearch<SearchResult>(members,
            new StageCost(clock.Elapsed.TotalSeconds, training.ImagesSeen, scorer.EvalImages));
    }

    /// <summary>
    /// Per block, every operation some member allows: the first member's in its order, then what later members add.
    /// </summary>
    private static IReadOnlyList<IReadOnlyList<Operation>> UnionOptions(IReadOnlyList<ShrunkSpace> shrunk) =>
        shrunk[0].Allowed.Select((first, b) => (IReadOnlyList<Operation>)first
            .Concat(shrunk.Skip(1).SelectMany(s => s.Allowed[b]))
            .Distinct().ToArray()).ToArray();

    /// <summary>
    /// The evolution's <paramref name="count"/> best distinct candidates, each fine-tuned alone from the supernet's
    /// weights (restored after each) and scored again; the best fine-tuned score is the pick. In the rank study this
    /// found the window's best reference architecture with each of four supernets whose inherited scores alone did
    /// not (docs/results.md). The best are those the ranking (<see cref="SearchSettings.RankBy"/>) put first; the
    /// fine-tuned ones are compared by top-1, as measured. The pick's fitness stays its inherited top-1, comparable
    /// with every other candidate's.
    /// </summary>
    private static (Genotype Best, double Fitness) Rerank(StageContext ctx, string stage, SuperNet net,
        ArchitectureSpace space, CandidateScorer scorer, List<EvaluatedCandidate> evaluated, SearchSettings settings,
        Stopwatch clock)
    {
        var top = evaluated.Select((e, i) => (e, i)).DistinctBy(x => x.e.Genotype)
            .OrderByDescending(x => settings.RankingScore(x.e.Accuracy, x.e.Loss ?? double.PositiveInfinity))
            .Take(settings.Rerank).ToArray();
        var seed = Rng.Derive(ctx.Seed, 83);
        for (var k = 0; k < top.Length; k++)
        {
            var (candidate, index) = top[k];
            var tuned = scorer.ScoreFineTuned(net, space, space.Parse(candidate.Genotype), SearchSettings.RerankTuning,
                seed);
            evaluated[index] = candidate with { FineTuned = tuned };
            ctx.Progress?.Invoke(new Progress(stage, "rerank", 1, 1, k + 1, top.Length, double.NaN, tuned, 0,
                clock.Elapsed.TotalSeconds));
        }
        var pick = top.Select(x => evaluated[x.i]).MaxBy(e => e.FineTuned)!;
        return (space.Parse(pick.Genotype), pick.Accuracy);
    }

    /// <summary>The validation top-1 an evaluated genotype scored (the evolution's fitness may be its loss).</summary>
    private static double Top1Of(IEnumerable<EvaluatedCandidate> evaluated, string genotype) =>
        evaluated.First(e => e.Genotype == genotype).Accuracy;

    /// <summary>
    /// Fills in the generation of each evaluated candidate (known only once the evolution returns its history).
    /// </summary>
    private static void Regenerate(List<EvaluatedCandidate> evaluated, EvolutionResult result)
    {
        for (var i = 0; i < evaluated.Count && i < result.History.Count; i++)
            evaluated[i] = evaluated[i] with { Generation = result.History[i].Generation };
    }

    private static void ReportSearch(StageContext ctx, string stage, int done, int total, double accuracy,
        Stopwatch clock) =>
        ctx.Progress?.Invoke(new Progress(stage, "search", 1, 1, done, total, double.NaN, accuracy, 0,
            clock.Elapsed.TotalSeconds));

    private static int[] UniformChoice(IReadOnlyList<int> counts, Rng rng) => counts.Select(rng.NextInt).ToArray();

    /// <summary>
    /// The vital supernet's training paths: uniform over each block's options, or with the families balanced.
    /// </summary>
    private static Func<Rng, int[]> TrainingDraw(IReadOnlyList<IReadOnlyList<Operation>> options,
        IReadOnlyList<int> counts, BlockStyle style, SearchSettings settings)
    {
        if (!settings.BalanceFamilies) return rng => UniformChoice(counts, rng);
        var probabilities = options.Select(o => Proposal.BalanceFamilies(o,
            Enumerable.Repeat(1.0 / o.Count, o.Count).ToArray(), style)).ToArray();
        return rng => ArchitectureSampler.Draw(probabilities, rng);
    }

    private static int[] SampleUntil(IReadOnlyList<int> counts, Func<int[], bool> constraint, Rng rng)
    {
        for (var i = 0; i < 100_000; i++)
        {
            var c = UniformChoice(counts, rng);
            if (constraint(c)) return c;
        }
        throw new SearchSpaceException(
            "no affordable vital choice found in 100,000 uniform draws: the budget is too tight for this space");
    }

    private static string VitalText(ArchitectureSpace space, IReadOnlyList<IReadOnlyList<Operation>> options,
        IReadOnlyList<int> choice) =>
        string.Join(' ', space.VitalBlocks.Select(b => options[b][choice[b]]));

    private static void WriteGenotype(StageContext ctx, ArchitectureSpace space, Genotype genotype) =>
        File.WriteAllText(ctx.PathFor("genotype.json"), genotype.ToJson(space.Skeleton.Name));

    private static void WriteResult<T>(StageContext ctx, T result, IReadOnlyList<EvaluatedCandidate>? evaluated)
    {
        File.WriteAllText(ctx.PathFor("result.json"), JsonSerializer.Serialize(result, Json));
        // Which CPU, code paths and threads this result came from: one seed repeats it only where they agree.
        File.WriteAllText(ctx.PathFor(NumericsPinning.FileName),
            JsonSerializer.Serialize(NumericsPinning.Current(), Json));
        if (evaluated is null) return;
        File.WriteAllLines(ctx.PathFor("candidates.csv"),
            [
                "generation,accuracy,mflops,params,loss,genotype,fine_tuned",
                .. evaluated.Select(e => string.Create(CultureInfo.InvariantCulture,
                    $"{e.Generation},{e.Accuracy:F4},{e.MFlops:F4},{e.Params},{e.Loss:F4},\"{e.Genotype}\"," +
                    $"{e.FineTuned:F4}"))
            ]);
    }
}
