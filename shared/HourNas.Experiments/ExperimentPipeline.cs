using HourNas.Contracts;

namespace HourNas.Experiments;

/// <summary>
/// The coordinator's side of <see cref="PipelineStages.Sequence"/>, every transition on one screen: for each stage, the
/// command that starts it (built from the experiment's state alone, so a lost command can be sent again) and what its
/// event records. The grain walks the stages in order; the next stage starts when the event of the current one comes.
/// </summary>
public static class ExperimentPipeline
{
    public static readonly IReadOnlyList<StageStep> Steps =
    [
        Step<AnalyzeVitalBlocks, VitalBlocksAnalyzed>(
            (s, attempt) => new() { ExperimentId = s.Id, Attempt = attempt, Spec = s.Spec! },
            (s, stage, e) =>
            {
                stage.Metrics[StageMetrics.Blocks] = e.Blocks;
                stage.Metrics[StageMetrics.VitalBlocks] = e.VitalBlocks.Count;
                s.VitalBlocks = e.VitalBlocks;
            }),
        Step<SearchVitalBlocks, VitalBlocksSearched>(
            (s, attempt) => new() { ExperimentId = s.Id, Attempt = attempt, Spec = s.Spec! },
            (s, stage, e) =>
            {
                RecordCost(stage, e.Cost);
                stage.Metrics[StageMetrics.ValidationTop1] = e.ValidationAccuracy;
                s.VitalOperations = e.VitalOperations;
                s.VitalSupernet = e.VitalSupernet;
                s.MemberVitalOperations = e.Members.Count > 0 ? [.. e.Members.Select(m => m.VitalOperations)] : null;
            }),
        Step<ShrinkSearchSpace, SearchSpaceShrunk>(
            (s, attempt) => new()
            {
                ExperimentId = s.Id, Attempt = attempt, Spec = s.Spec!, VitalOperations = s.VitalOperations!,
                MemberVitalOperations = s.MemberVitalOperations ?? [],
            },
            (s, stage, e) =>
            {
                stage.Metrics[StageMetrics.ShrinkRatio] = e.ShrinkRatio;
                stage.Metrics[StageMetrics.MinMFlops] = e.MinMFlops;
                stage.Metrics[StageMetrics.MaxMFlops] = e.MaxMFlops;
                s.ShrinkRatio = e.ShrinkRatio;
            }),
        Step<SearchNonVitalBlocks, ArchitectureSearched>(
            (s, attempt) => new()
            {
                ExperimentId = s.Id, Attempt = attempt, Spec = s.Spec!, VitalOperations = s.VitalOperations!,
                VitalSupernet = s.VitalSupernet, MemberVitalOperations = s.MemberVitalOperations ?? [],
            },
            (s, stage, e) =>
            {
                RecordCost(stage, e.Cost);
                stage.Metrics[StageMetrics.ValidationTop1] = e.ValidationAccuracy;
                stage.Metrics[StageMetrics.MFlops] = e.MFlops;
                s.Genotype = e.Genotype;
                s.MemberGenotypes = e.Members.Count > 0 ? [.. e.Members.Select(m => m.Genotype)] : null;
            }),
        // The last stage: the experiment then awaits its report (ExperimentState.AwaitsReport).
        Step<RetrainArchitecture, ArchitectureRetrained>(
            (s, attempt) => new()
            {
                ExperimentId = s.Id, Attempt = attempt, Spec = s.Spec!, Genotype = s.Genotype!,
                MemberGenotypes = s.MemberGenotypes ?? [],
            },
            (s, stage, e) =>
            {
                RecordCost(stage, e.Cost);
                stage.Metrics[StageMetrics.Top1] = e.Top1;
                stage.Metrics[StageMetrics.Top5] = e.Top5;
                s.Result = e;
            }),
    ];

    static ExperimentPipeline()
    {
        // The two declarations must agree stage for stage: a stage added to one and not the other fails at start.
        var declared = PipelineStages.Sequence.Select(d => d.Name);
        if (!Steps.Select(s => s.Stage.Name).SequenceEqual(declared))
            throw new InvalidOperationException(
                $"ExperimentPipeline's steps ({string.Join(", ", Steps.Select(s => s.Stage.Name))}) differ from " +
                $"PipelineStages.Sequence ({string.Join(", ", declared)})");
    }

    public static StageStep Of(string stage) => Steps.First(s => s.Stage.Name == PipelineStages.Named(stage).Name);

    public static StageStep OfEvent(Type @event) => Steps.First(s => s.Stage == PipelineStages.OfEvent(@event));

    private static StageStep Step<TCommand, TEvent>(Func<ExperimentState, int, TCommand> command,
        Action<ExperimentState, StageRecord, TEvent> record)
        where TCommand : IStageMessage where TEvent : IStageResult
    {
        var definition = PipelineStages.OfCommand(typeof(TCommand));
        if (definition.Event != typeof(TEvent))
            throw new InvalidOperationException(
                $"stage '{definition.Name}' ends with {definition.Event.Name}, not {typeof(TEvent).Name}");
        return new StageStep(
            definition, (s, attempt) => command(s, attempt), (s, stage, e) => record(s, stage, (TEvent)e));
    }

    private static void RecordCost(StageRecord stage, StageCost cost)
    {
        stage.Metrics[StageMetrics.SearchSeconds] = cost.Seconds;
        stage.Metrics[StageMetrics.TrainImages] = cost.TrainImages;
        stage.Metrics[StageMetrics.EvalImages] = cost.EvalImages;
    }
}

/// <summary>One stage as the grain runs it: its declaration, its command, what its event records.</summary>
public sealed record StageStep(
    StageDefinition Stage,
    Func<ExperimentState, int, IStageMessage> Command,
    Action<ExperimentState, StageRecord, IStageResult> Record);
