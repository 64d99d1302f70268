using System.Diagnostics;
using HourNas.Contracts;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace HourNas.Experiments;

/// <summary>
/// Owns one experiment's lifecycle: vital-blocks → stage1 → shrink → stage2 → retrain. Each stage's event
/// completes that stage and publishes the next command; events of a stage that is not current (a redelivered
/// duplicate, a late message after a cancel) are recorded nowhere and change nothing.
/// </summary>
public sealed class ExperimentGrain(
    [PersistentState("experiment", ExperimentGrain.Storage)] IPersistentState<ExperimentState> state,
    IBus bus,
    ILogger<ExperimentGrain> logger) : Grain, IExperimentGrain
{
    public const string Storage = "experiments";

    /// <summary>Train-step reports kept per experiment; epoch and search reports are always kept.</summary>
    private const int MaxStepReports = 2000;

    public static readonly ActivitySource Source = new("HourNas.Coordinator");

    private ExperimentState S => state.State;

    private bool Exists => state.RecordExists && S.Spec is not null;

    public async Task<ExperimentState> Submit(ExperimentSpec spec, string? traceParent)
    {
        if (Exists)
        {
            if (S.Spec != spec)
                throw new ExperimentConflictException($"experiment '{this.GetPrimaryKeyString()}' already exists with a different spec");
            return S;
        }
        S.Id = this.GetPrimaryKeyString();
        S.Spec = spec;
        S.Status = ExperimentStatus.Submitted;
        S.SubmittedAt = DateTimeOffset.UtcNow;
        S.TraceParent = traceParent;
        await StartStage(PipelineStages.VitalBlocks);
        return S;
    }

    public async Task<bool> Resume(TimeSpan silenceLimit)
    {
        if (!Exists)
        {
            // Listed by a catalog update that a crash kept the experiment's own state from following: nothing was started.
            await GrainFactory.GetGrain<IExperimentCatalogGrain>(0).Remove(this.GetPrimaryKeyString());
            return false;
        }
        if (!S.IsFinished && S.Stage(S.CurrentStage ?? "") is
            { Status: StageStatus.Running, CommandSentAt: not null, Starts: > 0 } started)
        {
            // A worker took the command and has been silent since: it hangs or lost its connection without dying (a
            // dead worker's command goes back to the queue). A command still queued (no start yet) is not silent.
            var last = S.Progress.Where(p => p.Stage == started.Stage).Select(p => p.At)
                .DefaultIfEmpty(started.CommandSentAt.Value).Max();
            if (DateTimeOffset.UtcNow - last <= silenceLimit) return false;
            var reason = $"no progress report for {silenceLimit} (HourNas:StageSilenceLimit) since {last:u} from " +
                $"{(started.Workers.Count > 0 ? string.Join(", ", started.Workers) : "its worker")}";
            started.Status = StageStatus.Failed;
            started.EndedAt = DateTimeOffset.UtcNow;
            started.Failures.Add(reason);
            logger.LogWarning("Experiment {Id} failed in {Stage}: {Reason}", S.Id, started.Stage, reason);
            await Finish(ExperimentStatus.Failed, $"{started.Stage}: {reason}");
            await bus.Publish(new CancelExperiment { ExperimentId = S.Id, Reason = $"{started.Stage}: {reason}" });
            return true;
        }
        if (S.IsFinished || S.Stage(S.CurrentStage ?? "") is not { Status: StageStatus.Running, CommandSentAt: null }) return false;
        logger.LogWarning("Experiment {Id}: {Stage} is running but its command was never sent; sending it now", S.Id, S.CurrentStage);
        await SendCommand();
        return true;
    }

    public Task<ExperimentState?> Get() => Task.FromResult(Exists ? S : null);

    public async Task<ExperimentState> Cancel(string reason)
    {
        if (!Exists) throw new KeyNotFoundException($"no experiment '{this.GetPrimaryKeyString()}'");
        if (S.IsFinished) throw new ExperimentConflictException($"experiment '{S.Id}' already ended: {S.Status}");
        if (S.Stage(S.CurrentStage ?? "") is { Status: StageStatus.Running } stage)
        {
            stage.Status = StageStatus.Cancelled;
            stage.EndedAt = DateTimeOffset.UtcNow;
        }
        await Finish(ExperimentStatus.Cancelled, reason);
        await bus.Publish(new CancelExperiment { ExperimentId = S.Id, Reason = reason });
        return S;
    }

    public async Task OnProgress(StageProgressed p)
    {
        if (CurrentRunning(p.Stage, p.Attempt) is not { } stage) return;
        if (p.Phase == "received")
        {
            // Not history: the moment the stage's working time starts (the first worker's, on redelivery too), and
            // who took it (stages that do not train report nothing else).
            var firstWorker = p.Worker is { } w && !stage.Workers.Contains(w);
            if (stage.ReceivedAt is not null && !firstWorker) return;
            stage.ReceivedAt ??= DateTimeOffset.UtcNow;
            if (firstWorker) stage.Workers.Add(p.Worker!);
            await state.WriteStateAsync();
            return;
        }
        // One point per stage, phase, epoch and step. The same report again (a redelivery after a failed state
        // write, whose point is already in memory) changes nothing; a report for a step seen before with another
        // time (a worker resumed from a checkpoint and trained that step again) replaces the old point.
        var same = S.Progress.FindIndex(x =>
            x.Stage == p.Stage && x.Phase == p.Phase && x.Epoch == p.Epoch && x.Step == p.Step);
        var redelivered = same >= 0 && S.Progress[same].Seconds.Equals(p.Seconds);
        var isStep = p.Phase == "train";
        if (!redelivered)
        {
            var point = new ProgressPoint(p.Stage, p.Phase, p.Epoch, p.Step, p.Steps, p.Loss, p.Accuracy,
                p.ImagesPerSecond,
                p.Seconds, DateTimeOffset.UtcNow, p.Epochs);
            if (p.Phase == "started")
            {
                stage.Starts++;
                stage.ResumedFromEpoch = p.Epoch;
                if (p.Worker is { } w && !stage.Workers.Contains(w)) stage.Workers.Add(w);
                S.Progress.Add(point);
            }
            else if (same >= 0) S.Progress[same] = point;
            else if (!isStep || S.Progress.Count(x => x.Phase == "train") < MaxStepReports) S.Progress.Add(point);
        }
        // Step reports are frequent; persist them with the next state change rather than one write each.
        if (!isStep) await state.WriteStateAsync();
    }

    public async Task OnVitalBlocksAnalyzed(VitalBlocksAnalyzed e)
    {
        if (Complete(PipelineStages.VitalBlocks, e.Attempt, e.Artifacts) is not { } stage) return;
        stage.Metrics["blocks"] = e.Blocks;
        stage.Metrics["vitalBlocks"] = e.VitalBlocks.Count;
        S.VitalBlocks = e.VitalBlocks;
        await StartStage(PipelineStages.VitalSearch);
    }

    public async Task OnVitalBlocksSearched(VitalBlocksSearched e)
    {
        if (Complete(PipelineStages.VitalSearch, e.Attempt, e.Artifacts) is not { } stage) return;
        AddCost(stage, e.Cost);
        stage.Metrics["validationTop1"] = e.ValidationAccuracy;
        S.VitalOperations = e.VitalOperations;
        S.VitalSupernet = e.VitalSupernet;
        await StartStage(PipelineStages.Shrink);
    }

    public async Task OnSearchSpaceShrunk(SearchSpaceShrunk e)
    {
        if (Complete(PipelineStages.Shrink, e.Attempt, e.Artifacts) is not { } stage) return;
        stage.Metrics["shrinkRatio"] = e.ShrinkRatio;
        stage.Metrics["minMFlops"] = e.MinMFlops;
        stage.Metrics["maxMFlops"] = e.MaxMFlops;
        S.ShrinkRatio = e.ShrinkRatio;
        await StartStage(PipelineStages.NonVitalSearch);
    }

    public async Task OnArchitectureSearched(ArchitectureSearched e)
    {
        if (Complete(PipelineStages.NonVitalSearch, e.Attempt, e.Artifacts) is not { } stage) return;
        AddCost(stage, e.Cost);
        stage.Metrics["validationTop1"] = e.ValidationAccuracy;
        stage.Metrics["mflops"] = e.MFlops;
        S.Genotype = e.Genotype;
        await StartStage(PipelineStages.Retrain);
    }

    public async Task OnArchitectureRetrained(ArchitectureRetrained e)
    {
        if (Complete(PipelineStages.Retrain, e.Attempt, e.Artifacts) is not { } stage) return;
        AddCost(stage, e.Cost);
        stage.Metrics["top1"] = e.Top1;
        stage.Metrics["top5"] = e.Top5;
        S.Result = e;
        // Completed only once the report is written (Complete), so a client that sees Completed finds every file.
        await state.WriteStateAsync();
    }

    public async Task Complete(IReadOnlyList<ArtifactRef> report, DateTimeOffset endedAt)
    {
        if (!Exists || S.Status != ExperimentStatus.Running || S.Result is null) return;
        S.Stage(PipelineStages.Retrain)!.Artifacts.AddRange(report);
        await Finish(ExperimentStatus.Completed, null, endedAt);
    }

    public async Task OnStageFailed(StageFailed e)
    {
        if (CurrentRunning(e.Stage, e.Attempt) is not { } stage) return;
        stage.Failures.Add(e.Reason);
        if (e.Retriable)
        {
            await state.WriteStateAsync();
            return;
        }
        stage.Status = StageStatus.Failed;
        stage.EndedAt = DateTimeOffset.UtcNow;
        logger.LogWarning("Experiment {Id} failed in {Stage}: {Reason}", S.Id, e.Stage, e.Reason);
        await Finish(ExperimentStatus.Failed, $"{e.Stage}: {e.Reason}");
    }

    public async Task OnStageCancelled(StageCancelled e)
    {
        // After the coordinator's own cancel the experiment is finished and this is only the worker's echo.
        if (CurrentRunning(e.Stage, e.Attempt) is not { } stage) return;
        stage.Status = StageStatus.Cancelled;
        stage.EndedAt = DateTimeOffset.UtcNow;
        logger.LogWarning("Experiment {Id}: {Stage} was stopped by a cancel the coordinator did not send",
            S.Id, e.Stage);
        await Finish(ExperimentStatus.Cancelled,
            $"{e.Stage}: stopped by a CancelExperiment message that did not come from the coordinator (reason given: " +
            $"'{BoundedText.Shown(e.Reason, 200)}')");
    }

    private StageRecord? CurrentRunning(string stageName, int attempt)
    {
        if (!Exists || S.IsFinished || S.CurrentStage != stageName) return null;
        var stage = S.Stage(stageName);
        return stage is { Status: StageStatus.Running } && stage.Attempt == attempt ? stage : null;
    }

    private StageRecord? Complete(string stageName, int attempt, IReadOnlyList<ArtifactRef> artifacts)
    {
        if (CurrentRunning(stageName, attempt) is not { } stage)
        {
            logger.LogInformation("Experiment {Id}: ignoring a {Stage} result that is not awaited (duplicate or late)", this.GetPrimaryKeyString(), stageName);
            return null;
        }
        stage.Status = StageStatus.Completed;
        stage.EndedAt = DateTimeOffset.UtcNow;
        stage.Artifacts = [.. artifacts];
        return stage;
    }

    private static void AddCost(StageRecord stage, StageCost cost)
    {
        stage.Metrics["searchSeconds"] = cost.Seconds;
        stage.Metrics["trainImages"] = cost.TrainImages;
        stage.Metrics["evalImages"] = cost.EvalImages;
    }

    private async Task StartStage(string stageName)
    {
        S.Status = ExperimentStatus.Running;
        S.CurrentStage = stageName;
        S.Stages.Add(new StageRecord { Stage = stageName, StartedAt = DateTimeOffset.UtcNow });
        // The catalog first, then this state, then the command: after a crash at any point the coordinator's recovery
        // finds the experiment in the catalog and sends a command that is recorded as running but not sent (Resume).
        await UpdateCatalog();
        await state.WriteStateAsync();
        await SendCommand();
    }

    /// <summary>Publishes the current stage's command, built from the state alone, and records that it went out.</summary>
    private async Task SendCommand()
    {
        var stage = S.Stage(S.CurrentStage!)!;
        IStageMessage command = stage.Stage switch
        {
            PipelineStages.VitalBlocks => new AnalyzeVitalBlocks { ExperimentId = S.Id, Attempt = stage.Attempt, Spec = S.Spec! },
            PipelineStages.VitalSearch => new SearchVitalBlocks { ExperimentId = S.Id, Attempt = stage.Attempt, Spec = S.Spec! },
            PipelineStages.Shrink => new ShrinkSearchSpace { ExperimentId = S.Id, Attempt = stage.Attempt, Spec = S.Spec!, VitalOperations = S.VitalOperations! },
            PipelineStages.NonVitalSearch => new SearchNonVitalBlocks
            {
                ExperimentId = S.Id, Attempt = stage.Attempt, Spec = S.Spec!, VitalOperations = S.VitalOperations!, VitalSupernet = S.VitalSupernet,
            },
            PipelineStages.Retrain => new RetrainArchitecture { ExperimentId = S.Id, Attempt = stage.Attempt, Spec = S.Spec!, Genotype = S.Genotype! },
            _ => throw new InvalidOperationException($"no command for stage '{stage.Stage}'"),
        };
        // Parent the command on the experiment's root span, so every stage joins the one trace of the experiment
        // whatever the grain call itself carried.
        ActivityContext.TryParse(S.TraceParent, null, out var root);
        using (var activity = Source.StartActivity($"start {stage.Stage}", ActivityKind.Producer, root))
        {
            activity?.SetTag("hournas.experiment", S.Id);
            activity?.SetTag("hournas.stage", stage.Stage);
            await bus.Publish(command, command.GetType());
        }
        stage.CommandSentAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
    }

    private async Task Finish(ExperimentStatus status, string? reason, DateTimeOffset? endedAt = null)
    {
        S.Status = status;
        S.FailureReason = reason;
        S.EndedAt = endedAt ?? DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        await UpdateCatalog();
    }

    private Task UpdateCatalog() =>
        GrainFactory.GetGrain<IExperimentCatalogGrain>(0).Update(new ExperimentSummary(
            S.Id, S.Spec?.Preset ?? "", S.Status, S.CurrentStage, S.SubmittedAt, S.EndedAt, S.Result?.Top1));
}

/// <summary>The experiment list, persisted like the experiments.</summary>
public sealed class ExperimentCatalogGrain(
    [PersistentState("catalog", ExperimentGrain.Storage)] IPersistentState<Dictionary<string, ExperimentSummary>> state)
    : Grain, IExperimentCatalogGrain
{
    public Task Update(ExperimentSummary summary)
    {
        state.State[summary.Id] = summary;
        return state.WriteStateAsync();
    }

    public Task Remove(string id) => state.State.Remove(id) ? state.WriteStateAsync() : Task.CompletedTask;

    public Task<IReadOnlyList<ExperimentSummary>> List() =>
        Task.FromResult<IReadOnlyList<ExperimentSummary>>(state.State.Values.OrderBy(s => s.SubmittedAt).ToArray());
}
