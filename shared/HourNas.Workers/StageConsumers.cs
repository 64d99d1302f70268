using System.Diagnostics;
using System.Text.Json;
using HourNas.Contracts;
using HourNas.Engine.Stages;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using MassTransit;

namespace HourNas.Workers;

/// <summary>
/// The VitalBlocks service: the bridges of the block graph, and an early check that the budget window holds
/// architectures.
/// </summary>
public sealed class AnalyzeVitalBlocksConsumer(StageServices services)
    : StageConsumer<AnalyzeVitalBlocks, VitalBlocksAnalyzed>(services)
{
    protected override ActivitySource Source => StageTelemetry.VitalBlocks;

    protected override Task<VitalBlocksAnalyzed> Run(AnalyzeVitalBlocks command, StageRun run)
    {
        var space = ExperimentSpecs.Space(command.Spec);
        // Throws, naming the window and the space's range, when no architecture fits the budget.
        var shrunk = SpaceShrinker.Shrink(space, ExperimentSpecs.Budget(command.Spec));
        Directory.CreateDirectory(run.Folder);
        var file = Path.Combine(run.Folder, "vital-blocks.json");
        File.WriteAllText(file, JsonSerializer.Serialize(new
        {
            preset = space.Skeleton.Name,
            vitalBlocks = space.VitalBlocks,
            blocks = space.Blocks.Select((b, i) => new { block = i, vital = space.IsVital[i], why = space.Reason(i) }),
            architectures = space.Size.ToString(),
            architecturesInWindow = shrunk.ArchitecturesInWindow.ToString(),
        }, HourNasStages.Json));
        return Task.FromResult(new VitalBlocksAnalyzed
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            VitalBlocks = space.VitalBlocks,
            Blocks = space.Blocks.Count,
            SpaceSize = space.Size.ToString(),
            Artifacts = [run.Artifact("vital-blocks", file)],
        });
    }
}

/// <summary>SupernetTraining, stage 1: the vital supernet and the vital blocks' operations.</summary>
public sealed class SearchVitalBlocksConsumer(StageServices services)
    : StageConsumer<SearchVitalBlocks, VitalBlocksSearched>(services)
{
    protected override ActivitySource Source => StageTelemetry.SupernetTraining;

    protected override Task<VitalBlocksSearched> Run(SearchVitalBlocks command, StageRun run)
    {
        var spec = command.Spec;
        var context = run.Context(spec with { TrainLimit = spec.VitalSearchTrainLimit ?? spec.TrainLimit });
        var result = HourNasStages.SearchVitalBlocks(
            context, ExperimentSpecs.Space(spec), ExperimentSpecs.Budget(spec), EngineSettings.Search(spec));
        return Task.FromResult(new VitalBlocksSearched
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            VitalOperations = result.VitalOperations,
            ValidationAccuracy = result.ValidationAccuracy,
            Cost = Cost(result.Cost),
            VitalSupernet = run.Services.Store.Relative(result.SupernetWeights),
            Artifacts = StageArtifacts.In(run),
        });
    }

    internal static Contracts.StageCost Cost(Engine.Stages.StageCost c) => new(c.Seconds, c.TrainImages, c.EvalImages);
}

/// <summary>
/// The SpaceShrinking service: what the budget affords the non-vital blocks around the chosen vital operations.
/// </summary>
public sealed class ShrinkSearchSpaceConsumer(StageServices services)
    : StageConsumer<ShrinkSearchSpace, SearchSpaceShrunk>(services)
{
    protected override ActivitySource Source => StageTelemetry.SpaceShrinking;

    protected override Task<SearchSpaceShrunk> Run(ShrinkSearchSpace command, StageRun run)
    {
        var space = ExperimentSpecs.Space(command.Spec);
        var shrunk = SpaceShrinker.Shrink(
            space, ExperimentSpecs.Budget(command.Spec), Presets.ResolveVitalChoices(space, command.VitalOperations));
        var proposal = Proposal.MaxEntropy(shrunk);
        var affordable = space.NonVitalBlocks.ToDictionary(
            b => b, b => (IReadOnlyList<string>)shrunk.Allowed[b].Select(o => o.ToString()).ToArray());
        var probabilities = space.NonVitalBlocks.ToDictionary(
            b => b, b => (IReadOnlyList<double>)proposal.Probabilities[b].ToArray());
        var result = new SearchSpaceShrunk
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            VitalOperations = command.VitalOperations,
            ShrinkRatio = shrunk.ShrinkRatio,
            ArchitecturesInWindow = shrunk.ArchitecturesInWindow.ToString(),
            MinMFlops = shrunk.MFlopsWindow.Min,
            MaxMFlops = shrunk.MFlopsWindow.Max,
            Budget = shrunk.Budget.ToString(),
            Affordable = affordable,
            Proposal = probabilities,
        };
        Directory.CreateDirectory(run.Folder);
        var file = Path.Combine(run.Folder, "shrunk.json");
        File.WriteAllText(file, JsonSerializer.Serialize(new
        {
            result.VitalOperations,
            result.ShrinkRatio,
            result.ArchitecturesInWindow,
            spaceSize = shrunk.SpaceSize.ToString(),
            shrunkSize = shrunk.ShrunkSize.ToString(),
            exactCount = shrunk.CountIsExact,
            result.Budget,
            result.MinMFlops,
            result.MaxMFlops,
            proposalExpectedMFlops = proposal.ExpectedMacs / 1e6,
            result.Affordable,
            result.Proposal,
        }, HourNasStages.Json));
        return Task.FromResult(result with { Artifacts = [run.Artifact("shrunk", file)] });
    }
}

/// <summary>
/// SupernetTraining, stage 2: the non-vital blocks inside the shrunk space, warm-started from stage 1's supernet.
/// </summary>
public sealed class SearchNonVitalBlocksConsumer(StageServices services)
    : StageConsumer<SearchNonVitalBlocks, ArchitectureSearched>(services)
{
    protected override ActivitySource Source => StageTelemetry.SupernetTraining;

    protected override Task<ArchitectureSearched> Run(SearchNonVitalBlocks command, StageRun run)
    {
        var spec = command.Spec;
        var space = ExperimentSpecs.Space(spec);
        var warmStart = command.VitalSupernet is null ? null : run.Services.Store.Resolve(command.VitalSupernet);
        var result = HourNasStages.SearchNonVitalBlocks(run.Context(spec), space, ExperimentSpecs.Budget(spec),
            Presets.ResolveVitalChoices(space, command.VitalOperations), warmStart, EngineSettings.Search(spec));
        return Task.FromResult(new ArchitectureSearched
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            Genotype = result.Genotype,
            MFlops = result.MFlops,
            Params = result.Params,
            ValidationAccuracy = result.ValidationAccuracy,
            Cost = SearchVitalBlocksConsumer.Cost(result.Cost),
            Artifacts = StageArtifacts.In(run),
        });
    }
}

/// <summary>
/// The Retraining service: the found network from scratch, its test accuracy, its weights, and the block ablation.
/// </summary>
public sealed class RetrainArchitectureConsumer(StageServices services)
    : StageConsumer<RetrainArchitecture, ArchitectureRetrained>(services)
{
    protected override ActivitySource Source => StageTelemetry.Retraining;

    protected override Task<ArchitectureRetrained> Run(RetrainArchitecture command, StageRun run)
    {
        var spec = command.Spec;
        var space = ExperimentSpecs.Space(spec);
        var genotype = space.Parse(command.Genotype);
        var result = HourNasStages.Retrain(run.Context(spec, retrain: true), space, genotype);
        IReadOnlyList<BlockAblation> ablation = [];
        if (spec.Ablate)
        {
            var ablated = HourNasStages.Ablate(
                run.Context(spec, "ablation", retrain: true), space, genotype, result.Weights);
            ablation = ablated.Blocks
                .Select(b => new BlockAblation(b.Block, b.Operation, b.Vital, b.Top1, b.Drop))
                .ToArray();
        }
        return Task.FromResult(new ArchitectureRetrained
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            Genotype = result.Genotype,
            MFlops = result.MFlops,
            Params = result.Params,
            Top1 = result.Top1,
            Top5 = result.Top5,
            LatencyMilliseconds = result.LatencyMilliseconds,
            Cost = SearchVitalBlocksConsumer.Cost(result.Cost),
            Ablation = ablation,
            Artifacts = StageArtifacts.In(run),
        });
    }
}

/// <summary>
/// A stage consumer's queue and concurrency, from its <see cref="StageDefinition"/>: training stages run one at a time
/// per worker and prefetch nothing, so idle workers get the next command.
/// </summary>
public sealed class StageConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    private readonly StageDefinition _stage = PipelineStages.OfCommand(
        typeof(TConsumer).GetInterfaces()
            .Single(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IConsumer<>)
                && typeof(IStageMessage).IsAssignableFrom(i.GetGenericArguments()[0]))
            .GetGenericArguments()[0]);

    public StageConsumerDefinition()
    {
        EndpointName = _stage.Queue;
        if (_stage.OneAtATime) ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<TConsumer> consumer, IRegistrationContext context)
    {
        if (_stage.OneAtATime) endpoint.PrefetchCount = 1;
    }
}

internal static class StageArtifacts
{
    /// <summary>
    /// The files a stage wrote at the top of its folder and one level down (the ablation), not its checkpoint.
    /// </summary>
    public static IReadOnlyList<ArtifactRef> In(StageRun run) => Directory.Exists(run.Folder)
        ? Directory.EnumerateFiles(run.Folder, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(run.Folder, f).Split(Path.DirectorySeparatorChar).Contains("checkpoint"))
            .Where(f => Path.GetFileName(f) != "completed.json"
                && !Path.GetFileName(f).StartsWith(StageLease.FileName, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(f => run.Artifact(Path.GetRelativePath(run.Folder, f), f)).ToArray()
        : [];
}
