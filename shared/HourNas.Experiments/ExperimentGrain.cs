using HourNas.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HourNas.Experiments;

/// <summary>
/// Owns one experiment's lifecycle along <see cref="ExperimentPipeline"/>: each stage's event completes that stage
/// and starts the next; events of an attempt that is not running (a redelivered duplicate, a late result after a
/// cancel or a retry) change nothing. A reminder watches every unfinished experiment (<see cref="Check"/>).
/// </summary>
public sealed class ExperimentGrain(
    [PersistentState("experiment", ExperimentGrain.Storage)] IPersistentState<ExperimentState> state,
    IStageCommandSender sender,
    IEnumerable<IExperimentEvents> listeners,
    IOptions<CoordinatorPolicy> options,
    ILogger<ExperimentGrain> logger) : Grain, IExperimentGrain, IRemindable
{
    public const string Storage = "experiments";

    public const string Reminder = "watch";

    /// <summary>Train-step reports kept per experiment; epoch and search reports are always kept.</summary>
    private const int MaxStepReports = 2000;

    private ExperimentState S => state.State;

    private CoordinatorPolicy Policy => options.Value;

    private bool Exists => state.RecordExists && S.Spec is not null;

    private string Id => this.GetPrimaryKeyString();

    public async Task<ExperimentState> Submit(ExperimentSpec spec, string? traceParent)
    {
        if (Exists)
        {
            if (!spec.SameAs(S.Spec))
                throw new ExperimentConflictException($"experiment '{Id}' already exists with a different spec");
            return S;
        }
        // The reminder first: whatever a crash interrupts after this line, its next tick finishes or forgets.
        await Watch();
        S.Id = Id;
        S.Spec = spec;
        S.Status = ExperimentStatus.Submitted;
        S.SubmittedAt = DateTimeOffset.UtcNow;
        S.TraceParent = traceParent;
        await StartStage(PipelineStages.First, attempt: 1);
        Announce(LifecycleEvents.Submitted);
        return S;
    }

    public Task<ExperimentState?> Get() => Task.FromResult(Exists ? S : null);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Whatever dropped its reminder (an experiment from before reminders, a lost registration), an unfinished
        // experiment is watched again as soon as anything touches it.
        if (Exists && (!S.IsFinished || S.PendingCancel is not null)) await Watch();
        await base.OnActivateAsync(cancellationToken);
    }

    /// <summary>
    /// Persists the state. A write that fails leaves this activation's memory ahead of the store: the activation is
    /// dropped, so the caller's retry (a redelivered event, the next reminder tick) runs against what was stored.
    /// </summary>
    private async Task Save()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }

    public async Task<CheckOutcome> Check()
    {
        if (!Exists)
        {
            await Catalog.Remove(Id);
            await StopWatching();
            return CheckOutcome.Forgotten;
        }
        // A cancel that has not reached the broker goes first, whatever the experiment's status.
        var cancelSent = S.PendingCancel is not null && await SendPendingCancel();
        if (S.IsFinished)
        {
            await UpdateCatalog();  // a crash may have come between the state's write and the catalog's
            if (S.PendingCancel is null) await StopWatching();
            return cancelSent ? CheckOutcome.CancelSent : CheckOutcome.Nothing;
        }
        if (cancelSent) return CheckOutcome.CancelSent;
        if (S.Stage(S.CurrentStage ?? "") is not { Status: StageStatus.Running } stage) return CheckOutcome.Nothing;
        if (stage.CommandSentAt is null)
        {
            logger.LogWarning("Experiment {Id}: {Stage} is running but its command was never sent; sending it now",
                Id, stage.Stage);
            await UpdateCatalog();
            return await SendCommand(stage) ? CheckOutcome.CommandSent : CheckOutcome.Nothing;
        }
        // A command still queued (no worker has started it) waits however long; a started one must keep talking.
        if (stage.Starts == 0) return CheckOutcome.Nothing;
        var last = S.Progress.Where(p => p.Stage == stage.Stage && p.At >= stage.StartedAt).Select(p => p.At)
            .DefaultIfEmpty(stage.CommandSentAt.Value).Max();
        var limit = Policy.SilenceLimitOf(stage.Stage);
        if (DateTimeOffset.UtcNow - last <= limit) return CheckOutcome.Nothing;
        // It hangs or lost its connection without dying (a dead worker's command goes back to the queue).
        var reason = $"no progress report for {limit} (HourNas:StageSilenceLimit) since {last:u} from " +
            (stage.Workers.Count > 0 ? string.Join(", ", stage.Workers) : "its worker");
        return await EndAttempt(stage, reason, retriable: true, stopWorkers: true)
            ? CheckOutcome.StageRetried : CheckOutcome.ExperimentFailed;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        try
        {
            if (await Check() is not CheckOutcome.Nothing and var outcome)
                logger.LogWarning("Experiment {Id}: the reminder acted ({Outcome})", Id, outcome);
        }
        // Redis or the broker away: the next tick tries again.
        catch (Exception e)
        {
            logger.LogWarning(
                e, "Experiment {Id}: check failed; the next is in {Interval}", Id, Policy.RecoveryInterval);
        }
    }

    public async Task<ExperimentState> Cancel(string reason)
    {
        if (!Exists) throw new KeyNotFoundException($"no experiment '{Id}'");
        if (S.IsFinished) throw new ExperimentConflictException($"experiment '{S.Id}' already ended: {S.Status}");
        if (S.Stage(S.CurrentStage ?? "") is { Status: StageStatus.Running } stage)
        {
            stage.Status = StageStatus.Cancelled;
            stage.EndedAt = DateTimeOffset.UtcNow;
        }
        await Finish(
            ExperimentStatus.Cancelled, reason,
            stopWorkers: new CancelExperiment { ExperimentId = S.Id, Reason = reason });
        return S;
    }

    public async Task OnProgress(StageProgressed p)
    {
        // A report can come after its stage's result (redelivered late, after a store outage): still its history.
        if ((CurrentRunning(p.Stage, p.Attempt) ?? LateHistoryOf(p)) is not { } stage) return;
        if (p.Phase == ProgressPhases.Received)
        {
            // Not history: the moment the stage's working time starts (the first worker's, on redelivery too), and
            // who took it (stages that do not train report nothing else).
            var firstWorker = p.Worker is { } w && !stage.Workers.Contains(w);
            if (stage.ReceivedAt is not null && !firstWorker) return;
            stage.ReceivedAt ??= DateTimeOffset.UtcNow;
            if (firstWorker) stage.Workers.Add(p.Worker!);
            await Save();
            return;
        }
        // One point per stage, phase, epoch and step. The same report again (a redelivery after a failed state
        // write, whose point is already in memory) changes nothing; a report for a step seen before with another
        // time (a worker resumed from a checkpoint and trained that step again) replaces the old point.
        var same = S.Progress.FindIndex(x =>
            x.Stage == p.Stage && x.Phase == p.Phase && x.Epoch == p.Epoch && x.Step == p.Step);
        var redelivered = same >= 0 && S.Progress[same].Seconds.Equals(p.Seconds);
        var isStep = p.Phase == ProgressPhases.Train;
        if (!redelivered)
        {
            var point = new ProgressPoint(p.Stage, p.Phase, p.Epoch, p.Step, p.Steps, p.Loss, p.Accuracy,
                p.ImagesPerSecond, p.Seconds, DateTimeOffset.UtcNow, p.Epochs);
            if (p.Phase == ProgressPhases.Started)
            {
                stage.Starts++;
                stage.ResumedFromEpoch = p.Epoch;
                if (p.Worker is { } w && !stage.Workers.Contains(w)) stage.Workers.Add(w);
                S.Progress.Add(point);
            }
            else if (same >= 0) S.Progress[same] = point;
            else if (!isStep || S.Progress.Count(x => x.Phase == ProgressPhases.Train) < MaxStepReports)
                S.Progress.Add(point);
        }
        // Step reports are frequent; persist them with the next state change rather than one write each.
        if (!isStep) await Save();
    }

    public async Task<bool> OnStageCompleted(IStageResult result)
    {
        var step = ExperimentPipeline.OfEvent(result.GetType());
        if (CurrentRunning(step.Stage.Name, result.Attempt) is not { } stage)
        {
            logger.LogInformation("Experiment {Id}: ignoring a {Stage} result (attempt {Attempt}) that is not awaited",
                Id, step.Stage.Name, result.Attempt);
            // Only the last stage's result, delivered again after a crash before Complete, asks for the report.
            return Exists && S.AwaitsReport && step.Stage == PipelineStages.Last;
        }
        stage.Status = StageStatus.Completed;
        stage.EndedAt = DateTimeOffset.UtcNow;
        stage.Artifacts = [.. result.Artifacts];
        step.Record(S, stage, result);
        if (PipelineStages.After(step.Stage) is { } next)
        {
            await StartStage(next, attempt: 1);
            Announce(LifecycleEvents.StageCompleted, stage);
            return false;
        }
        // Completed only once the report is written (Complete), so a client that sees Completed finds every file.
        await Save();
        Announce(LifecycleEvents.StageCompleted, stage);
        return true;
    }

    public async Task Complete(IReadOnlyList<ArtifactRef> report, DateTimeOffset endedAt)
    {
        if (!Exists || !S.AwaitsReport) return;
        S.Stage(PipelineStages.Last.Name)!.Artifacts.AddRange(report);
        await Finish(ExperimentStatus.Completed, null, endedAt);
    }

    public async Task OnStageFailed(StageFailed failed)
    {
        if (CurrentRunning(failed.Stage, failed.Attempt) is not { } stage) return;
        if (stage.Failures.LastOrDefault() == failed.Reason) return;  // the same fault on the bus's next try
        stage.Failures.Add(failed.Reason);
        await Save();
    }

    public async Task OnStageFaulted(StageFault fault)
    {
        if (CurrentRunning(fault.Stage, fault.Attempt) is not { } stage) return;
        await EndAttempt(stage, fault.Reason, retriable: !fault.Rejected, stopWorkers: false);
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

    /// <summary>The completed stage attempt a late history report (not a start) belongs to, or null.</summary>
    private StageRecord? LateHistoryOf(StageProgressed p) =>
        Exists && p.Phase is ProgressPhases.Train or ProgressPhases.Epoch or ProgressPhases.Search
            && S.Stage(p.Stage) is { Status: StageStatus.Completed } stage && stage.Attempt == p.Attempt
            ? stage
            : null;

    private StageRecord? CurrentRunning(string stageName, int attempt)
    {
        if (!Exists || S.IsFinished || S.CurrentStage != stageName) return null;
        var stage = S.Stage(stageName);
        return stage is { Status: StageStatus.Running } && stage.Attempt == attempt ? stage : null;
    }

    /// <summary>
    /// Gives up the running attempt: the stage's next attempt when the failure may pass and attempts are left, else
    /// the experiment fails. True when it retried.
    /// </summary>
    private async Task<bool> EndAttempt(StageRecord stage, string reason, bool retriable, bool stopWorkers)
    {
        stage.Status = StageStatus.Failed;
        stage.EndedAt = DateTimeOffset.UtcNow;
        if (stage.Failures.LastOrDefault() != reason) stage.Failures.Add(reason);
        var attempts = Math.Max(1, Policy.StageAttempts);
        var cancel = stopWorkers
            ? new CancelExperiment
            {
                ExperimentId = S.Id,
                Reason = $"{stage.Stage} attempt {stage.Attempt}: {reason}",
                UpToAttempt = stage.Attempt,
            }
            : null;
        // A rejected input is never retried: no attempt count to show.
        var ofAttempts = retriable && attempts > 1 ? $" (attempt {stage.Attempt} of {attempts})" : "";
        if (retriable && stage.Attempt < attempts)
        {
            logger.LogWarning("Experiment {Id}: {Stage} attempt {Attempt} failed ({Reason}); retrying", S.Id,
                stage.Stage, stage.Attempt, reason);
            QueueCancel(cancel);
            await StartStage(PipelineStages.Named(stage.Stage), stage.Attempt + 1);
            Announce(LifecycleEvents.StageFailed, stage, reason);
            if (S.PendingCancel is not null) await SendPendingCancel();
            return true;
        }
        logger.LogWarning("Experiment {Id} failed in {Stage}: {Reason}", S.Id, stage.Stage, reason);
        await Finish(ExperimentStatus.Failed, $"{stage.Stage}: {reason}{ofAttempts}", stopWorkers: cancel,
            failedStage: stage);
        return false;
    }

    private async Task StartStage(StageDefinition definition, int attempt)
    {
        S.Status = ExperimentStatus.Running;
        S.CurrentStage = definition.Name;
        var stage = new StageRecord { Stage = definition.Name, Attempt = attempt, StartedAt = DateTimeOffset.UtcNow };
        S.Stages.Add(stage);
        // The state, then the catalog, then the command: after a crash at any point the reminder finds the stage
        // recorded as running and unsent, and sends it (Check).
        await Save();
        await UpdateCatalog();
        await SendCommand(stage);
    }

    /// <summary>
    /// Publishes the stage's command, built from the state alone, and records that it went out. A broker that does
    /// not take it in time leaves it unsent for the reminder: false.
    /// </summary>
    private async Task<bool> SendCommand(StageRecord stage)
    {
        var command = ExperimentPipeline.Of(stage.Stage).Command(S, stage.Attempt);
        try
        {
            await sender.Send(command, S.TraceParent, Policy.CommandSendTimeout);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Experiment {Id}: the {Stage} command did not go out; the reminder sends it", S.Id,
                stage.Stage);
            return false;
        }
        stage.CommandSentAt = DateTimeOffset.UtcNow;
        await Save();
        return true;
    }

    /// <summary>
    /// Adds a cancel to the one waiting to be sent, if any: the wider of the two (every attempt, else the later one)
    /// with the newer reason, so no cancel that did not go out is lost.
    /// </summary>
    private void QueueCancel(CancelExperiment? cancel)
    {
        if (cancel is null) return;
        S.PendingCancel = S.PendingCancel is not { } waiting
            ? cancel
            : cancel with
            {
                UpToAttempt = waiting.UpToAttempt is null || cancel.UpToAttempt is null
                    ? null
                    : Math.Max(waiting.UpToAttempt.Value, cancel.UpToAttempt.Value),
            };
    }

    private async Task<bool> SendPendingCancel()
    {
        try
        {
            await sender.Cancel(S.PendingCancel!, Policy.CommandSendTimeout);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Experiment {Id}: the cancel did not go out; the reminder sends it", S.Id);
            return false;
        }
        S.PendingCancel = null;
        await Save();
        return true;
    }

    private async Task Finish(ExperimentStatus status, string? reason, DateTimeOffset? endedAt = null,
        CancelExperiment? stopWorkers = null, StageRecord? failedStage = null)
    {
        S.Status = status;
        S.FailureReason = reason;
        S.EndedAt = endedAt ?? DateTimeOffset.UtcNow;
        QueueCancel(stopWorkers);
        await Save();
        if (failedStage is not null)
            Announce(LifecycleEvents.StageFailed, failedStage, failedStage.Failures.LastOrDefault());
        Announce(status switch
        {
            ExperimentStatus.Completed => LifecycleEvents.Completed,
            ExperimentStatus.Cancelled => LifecycleEvents.Cancelled,
            _ => LifecycleEvents.Failed,
        }, reason: reason);
        await UpdateCatalog();
        if (S.PendingCancel is not null) await SendPendingCancel();
        if (S.PendingCancel is null) await StopWatching();
    }

    /// <summary>
    /// Tells the listeners of a transition just stored. After the write, so nothing is announced that did not
    /// happen; a listener that fails is logged, never the experiment's problem.
    /// </summary>
    private void Announce(string type, StageRecord? stage = null, string? reason = null)
    {
        var e = LifecycleEvent.Of(S, type, stage, reason);
        foreach (var listener in listeners)
        {
            try
            {
                listener.Announce(e);
            }
            catch (Exception x)
            {
                logger.LogWarning(x, "Experiment {Id}: the {Type} event was not taken by {Listener}", Id, type,
                    listener.GetType().Name);
            }
        }
    }

    private IExperimentCatalogGrain Catalog => GrainFactory.GetGrain<IExperimentCatalogGrain>(0);

    private Task UpdateCatalog() => Catalog.Update(new ExperimentSummary(
        S.Id, S.Spec?.Preset ?? "", S.Status, S.CurrentStage, S.SubmittedAt, S.EndedAt, S.Result?.Top1));

    private async Task Watch()
    {
        if (Policy.RemindersOn)
            await this.RegisterOrUpdateReminder(Reminder, Policy.RecoveryInterval, Policy.RecoveryInterval);
    }

    private async Task StopWatching()
    {
        if (!Policy.RemindersOn) return;
        if (await this.GetReminder(Reminder) is { } reminder) await this.UnregisterReminder(reminder);
    }
}

/// <summary>The experiment list, persisted like the experiments.</summary>
public sealed class ExperimentCatalogGrain(
    [PersistentState("catalog", ExperimentGrain.Storage)] IPersistentState<Dictionary<string, ExperimentSummary>> state)
    : Grain, IExperimentCatalogGrain
{
    public Task Update(ExperimentSummary summary)
    {
        if (state.State.TryGetValue(summary.Id, out var known) && known == summary) return Task.CompletedTask;
        state.State[summary.Id] = summary;
        return state.WriteStateAsync();
    }

    public Task Remove(string id) => state.State.Remove(id) ? state.WriteStateAsync() : Task.CompletedTask;

    public Task<IReadOnlyList<ExperimentSummary>> List() =>
        Task.FromResult<IReadOnlyList<ExperimentSummary>>(state.State.Values.OrderBy(s => s.SubmittedAt).ToArray());
}
