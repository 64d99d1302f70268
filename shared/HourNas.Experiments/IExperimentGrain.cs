using HourNas.Contracts;

namespace HourNas.Experiments;

/// <summary>
/// One experiment, keyed by its id. It owns the experiment's state and decides what comes next: the next stage's
/// command, a retry, the end. It publishes nothing itself but through <see cref="IStageCommandSender"/>.
/// </summary>
public interface IExperimentGrain : IGrainWithStringKey
{
    /// <summary>
    /// Starts the experiment. Idempotent: submitting the same spec again returns the existing experiment;
    /// a different spec under the same id throws <see cref="ExperimentConflictException"/>.
    /// </summary>
    Task<ExperimentState> Submit(ExperimentSpec spec, string? traceParent);

    /// <summary>The experiment, or null if no experiment has this id.</summary>
    Task<ExperimentState?> Get();

    /// <summary>
    /// What the experiment's reminder runs (every <see cref="CoordinatorPolicy.RecoveryInterval"/> while it is
    /// unfinished): sends a command recorded as running but never sent (a crash, a broker fault or stall in between),
    /// or a cancel not yet sent; retries a stage whose worker started it and has been silent for longer than its
    /// limit, or fails the experiment when its attempts are spent; brings the catalog up to date after a crash; takes
    /// off the catalog an id that has no state (a crash inside Submit). Stops the reminder once nothing is left to
    /// watch.
    /// </summary>
    Task<CheckOutcome> Check();

    /// <summary>
    /// Cancels a running experiment; throws <see cref="ExperimentConflictException"/> when it already finished.
    /// </summary>
    Task<ExperimentState> Cancel(string reason);

    Task OnProgress(StageProgressed progress);

    /// <summary>
    /// A stage's event (<see cref="StageDefinition.Event"/>): completes the stage if it is the running attempt and
    /// starts the next; anything else (a duplicate, a late result after a cancel or a retry) changes nothing. True
    /// when the experiment, its last stage done, awaits its report (then <see cref="Complete"/>).
    /// </summary>
    Task<bool> OnStageCompleted(IStageResult result);

    /// <summary>
    /// Marks a retrained experiment Completed at <paramref name="endedAt"/> (the time its report already records),
    /// adding the report's files to its artifacts.
    /// </summary>
    Task Complete(IReadOnlyList<ArtifactRef> report, DateTimeOffset endedAt);

    /// <summary>
    /// A try of the running attempt failed and the bus retries it: the reason is recorded, nothing ends.
    /// </summary>
    Task OnStageFailed(StageFailed failed);

    /// <summary>
    /// The running attempt's command faulted (the only terminal signal of a stage): a rejected input fails the
    /// experiment; any other fault retries the stage while <see cref="CoordinatorPolicy.StageAttempts"/> allows.
    /// </summary>
    Task OnStageFaulted(StageFault fault);

    /// <summary>
    /// A worker stopped the running stage on a cancel; one the coordinator did not send ends the experiment.
    /// </summary>
    Task OnStageCancelled(StageCancelled cancelled);
}

/// <summary>A stage command's fault as the coordinator hands it to the grain.</summary>
/// <param name="Rejected">The input was rejected (<see cref="StageRejectedException"/>): retrying cannot help.</param>
[GenerateSerializer]
public sealed record StageFault(
    [property: Id(0)] string Stage,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string Reason,
    [property: Id(3)] bool Rejected,
    [property: Id(4)] string? Worker);

/// <summary>What a <see cref="IExperimentGrain.Check"/> did.</summary>
[GenerateSerializer]
public enum CheckOutcome
{
    /// <summary>
    /// Nothing to do: the stage is queued or talking, or the experiment is finished and its catalog line true.
    /// </summary>
    Nothing,

    /// <summary>A command recorded as running but never sent went out.</summary>
    CommandSent,

    /// <summary>A silent attempt was given up and the stage's next attempt sent.</summary>
    StageRetried,

    /// <summary>A silent attempt was the last one allowed: the experiment failed.</summary>
    ExperimentFailed,

    /// <summary>A cancel that had not reached the broker went out.</summary>
    CancelSent,

    /// <summary>The id had no state (a crash inside Submit): taken off the catalog.</summary>
    Forgotten,
}

/// <summary>The list of experiments (a single grain, key 0).</summary>
public interface IExperimentCatalogGrain : IGrainWithIntegerKey
{
    Task Update(ExperimentSummary summary);

    Task Remove(string id);

    Task<IReadOnlyList<ExperimentSummary>> List();
}

/// <summary>
/// The request contradicts the experiment's state (a different spec under a used id; cancel after the end).
/// </summary>
[GenerateSerializer]
public sealed class ExperimentConflictException(string message) : Exception(message);
