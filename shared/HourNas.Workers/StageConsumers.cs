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
        // Throws, naming the window and the space's range, when no architecture fits a budget (any member's).
        var windows = ExperimentSpecs.Budgets(command.Spec).Select(b => SpaceShrinker.Shrink(space, b)).ToArray();
        Directory.CreateDirectory(run.Folder);
        var file = Path.Combine(run.Folder, "vital-blocks.json");
        File.WriteAllText(file, JsonSerializer.Serialize(new
        {
            preset = space.Skeleton.Name,
            vitalBlocks = space.VitalBlocks,
            blocks = space.Blocks.Select((b, i) => new { block = i, vital = space.IsVital[i], why = space.Reason(i) }),
            architectures = space.Size.ToString(),
            architecturesInWindow = windows[0].ArchitecturesInWindow.ToString(),
            members = windows.Length == 1 ? null : windows.Select(w => new
            {
                budget = w.Budget.ToString(),
                architecturesInWindow = w.ArchitecturesInWindow.ToString(),
            }),
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
        var budgets = ExperimentSpecs.Budgets(spec);
        var family = HourNasStages.SearchVitalBlocks(
            context, ExperimentSpecs.Space(spec), budgets, EngineSettings.Search(spec));
        var result = family.Members[0];
        return Task.FromResult(new VitalBlocksSearched
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            VitalOperations = result.VitalOperations,
            ValidationAccuracy = result.ValidationAccuracy,
            Cost = Cost(family.Cost),
            VitalSupernet = run.Services.Store.Relative(result.SupernetWeights),
            Members = budgets.Count == 1 ? [] : [.. family.Members.Select((m, i) =>
                new MemberVitalChoice(spec.BudgetsMFlops![i], m.VitalOperations, m.ValidationAccuracy))],
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
        var budgets = ExperimentSpecs.Budgets(command.Spec);
        var vital = MemberInputs.Of(command.VitalOperations, command.MemberVitalOperations, budgets.Count,
            "vital choices");
        var members = budgets.Select((budget, m) => Shrink(space, budget, vital[m],
            budgets.Count == 1 ? run.Folder : Path.Combine(run.Folder, HourNasStages.MemberFolder(m)))).ToArray();
        var (first, file) = members[0];
        var result = new SearchSpaceShrunk
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            VitalOperations = command.VitalOperations,
            ShrinkRatio = first.ShrinkRatio,
            ArchitecturesInWindow = first.ArchitecturesInWindow,
            MinMFlops = first.MinMFlops,
            MaxMFlops = first.MaxMFlops,
            Budget = first.Budget,
            Affordable = first.Affordable,
            Proposal = first.Proposal,
            Members = budgets.Count == 1 ? [] : [.. members.Select((m, i) => new MemberSpaceShrunk(
                command.Spec.BudgetsMFlops![i], m.Result.VitalOperations, m.Result.ShrinkRatio,
                m.Result.ArchitecturesInWindow, m.Result.MinMFlops, m.Result.MaxMFlops, m.Result.Budget))],
        };
        return Task.FromResult(result with
        {
            Artifacts = budgets.Count == 1 ? [run.Artifact("shrunk", file)] : StageArtifacts.In(run),
        });
    }

    /// <summary>One budget's shrunk space, written to <c>shrunk.json</c> in <paramref name="folder"/>.</summary>
    private static (ShrunkSummary Result, string File) Shrink(ArchitectureSpace space, Budget budget,
        string vitalOperations, string folder)
    {
        var shrunk = SpaceShrinker.Shrink(space, budget, Presets.ResolveVitalChoices(space, vitalOperations));
        var proposal = Proposal.MaxEntropy(shrunk);
        var result = new ShrunkSummary(
            vitalOperations, shrunk.ShrinkRatio, shrunk.ArchitecturesInWindow.ToString(), shrunk.MFlopsWindow.Min,
            shrunk.MFlopsWindow.Max, shrunk.Budget.ToString(),
            space.NonVitalBlocks.ToDictionary(
                b => b, b => (IReadOnlyList<string>)shrunk.Allowed[b].Select(o => o.ToString()).ToArray()),
            space.NonVitalBlocks.ToDictionary(
                b => b, b => (IReadOnlyList<double>)proposal.Probabilities[b].ToArray()));
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, "shrunk.json");
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
        return (result, file);
    }

    private sealed record ShrunkSummary(string VitalOperations, double ShrinkRatio, string ArchitecturesInWindow,
        double MinMFlops, double MaxMFlops, string Budget, IReadOnlyDictionary<int, IReadOnlyList<string>> Affordable,
        IReadOnlyDictionary<int, IReadOnlyList<double>> Proposal);
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
        var budgets = ExperimentSpecs.Budgets(spec);
        var vital = MemberInputs.Of(command.VitalOperations, command.MemberVitalOperations, budgets.Count,
            "vital choices");
        var family = HourNasStages.SearchNonVitalBlocks(run.Context(spec), space, budgets,
            [.. vital.Select(v => Presets.ResolveVitalChoices(space, v))], warmStart, EngineSettings.Search(spec));
        var result = family.Members[0];
        return Task.FromResult(new ArchitectureSearched
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            Genotype = result.Genotype,
            MFlops = result.MFlops,
            Params = result.Params,
            ValidationAccuracy = result.ValidationAccuracy,
            Cost = SearchVitalBlocksConsumer.Cost(family.Cost),
            Members = budgets.Count == 1 ? [] : [.. family.Members.Select((m, i) => new MemberArchitecture(
                spec.BudgetsMFlops![i], m.Genotype, m.MFlops, m.Params, m.ValidationAccuracy))],
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
        var members = ExperimentSpecs.Members(spec);
        var genotypes = MemberInputs.Of(command.Genotype, command.MemberGenotypes, members.Count, "genotypes");
        var retrained = members.Select((member, m) => Retrain(run, member, space, space.Parse(genotypes[m]),
            members.Count == 1 ? null : HourNasStages.MemberFolder(m), spec.Ablate)).ToList();
        var (first, ablation) = retrained[0];
        IReadOnlyList<MemberRetrained> table = [];
        if (members.Count > 1)
        {
            var rows = retrained.Select((r, m) => Row(r.Result, HourNasStages.MemberFolder(m), spec.BudgetsMFlops![m]))
                .ToList();
            // The preset's hand-designed network, trained by the same recipe: the reference point of the front.
            if (Presets.Genotypes.FirstOrDefault(g => g.Name == ReferenceName && g.Preset == space.Skeleton.Name)
                is { } reference)
                rows.Add(Row(Retrain(run, spec, space, space.Parse(reference.Text), ReferenceName, false).Result,
                    ReferenceName, null));
            table = rows;
        }
        return Task.FromResult(new ArchitectureRetrained
        {
            ExperimentId = command.ExperimentId,
            Attempt = command.Attempt,
            Genotype = first.Genotype,
            MFlops = first.MFlops,
            Params = first.Params,
            Top1 = first.Top1,
            Top5 = first.Top5,
            LatencyMilliseconds = first.LatencyMilliseconds,
            Cost = SearchVitalBlocksConsumer.Cost(retrained.Select(r => r.Result.Cost).Aggregate((x, y) => x + y)),
            Ablation = ablation,
            Members = table,
            Artifacts = StageArtifacts.In(run),
        });
    }

    /// <summary>The genotype the family's reference network has in the presets' genotype list.</summary>
    public const string ReferenceName = "manual";

    private static (RetrainResult Result, IReadOnlyList<BlockAblation> Ablation) Retrain(StageRun run,
        ExperimentSpec spec, ArchitectureSpace space, Genotype genotype, string? folder, bool ablate)
    {
        var result = HourNasStages.Retrain(run.Context(spec, folder, retrain: true), space, genotype);
        if (!ablate) return (result, []);
        var ablated = HourNasStages.Ablate(
            run.Context(spec, folder is null ? "ablation" : Path.Combine(folder, "ablation"), retrain: true),
            space, genotype, result.Weights);
        return (result, [.. ablated.Blocks.Select(b => new BlockAblation(b.Block, b.Operation, b.Vital, b.Top1,
            b.Drop))]);
    }

    private static MemberRetrained Row(RetrainResult r, string name, double? budget) =>
        new(name, budget, r.Genotype, r.MFlops, r.Params, r.Top1, r.Top5, r.LatencyMilliseconds);
}

/// <summary>
/// A family command's per-member inputs, checked against the spec's budgets: a command may come from anyone with
/// broker access.
/// </summary>
internal static class MemberInputs
{
    public static IReadOnlyList<string> Of(string single, IReadOnlyList<string> members, int budgets, string what)
    {
        if (budgets == 1 && members.Count == 0) return [single];
        if (members.Count != budgets)
            throw new SearchSpaceException(
                $"the command carries {members.Count} member {what} for a spec of {budgets} FLOPs budgets");
        if (members[0] != single)
            throw new SearchSpaceException($"the command's first member {what} differ from its own");
        return members;
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
