using HourNas.Contracts;

namespace HourNas.Experiments;

/// <summary>One experiment, keyed by its id. It decides the next stage and publishes that stage's command.</summary>
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
    /// After a crash: sends the current stage's command if the state records the stage running but its command was never
    /// sent (a crash or a broker fault between the two). True when it sent one. An id the catalog lists but that has no
    /// state (a crash inside Submit) is taken off the catalog. A stage a worker started that has reported nothing for
    /// longer than <paramref name="silenceLimit"/> fails the experiment, naming the stage and the limit, and the
    /// workers are told to stop it.
    /// </summary>
    Task<bool> Resume(TimeSpan silenceLimit);

    /// <summary>Cancels a running experiment; throws <see cref="ExperimentConflictException"/> when it already finished.</summary>
    Task<ExperimentState> Cancel(string reason);

    Task OnProgress(StageProgressed progress);

    Task OnVitalBlocksAnalyzed(VitalBlocksAnalyzed e);

    Task OnVitalBlocksSearched(VitalBlocksSearched e);

    Task OnSearchSpaceShrunk(SearchSpaceShrunk e);

    Task OnArchitectureSearched(ArchitectureSearched e);

    /// <summary>Records the retrained result; the experiment stays Running until <see cref="Complete"/>.</summary>
    Task OnArchitectureRetrained(ArchitectureRetrained e);

    /// <summary>
    /// Marks a retrained experiment Completed at <paramref name="endedAt"/> (the time its report already records), adding
    /// the report's files to its artifacts.
    /// </summary>
    Task Complete(IReadOnlyList<ArtifactRef> report, DateTimeOffset endedAt);

    Task OnStageFailed(StageFailed e);

    /// <summary>
    /// A worker stopped the running stage on a cancel; one the coordinator did not send ends the experiment.
    /// </summary>
    Task OnStageCancelled(StageCancelled e);
}

/// <summary>The list of experiments (a single grain, key 0).</summary>
public interface IExperimentCatalogGrain : IGrainWithIntegerKey
{
    Task Update(ExperimentSummary summary);

    Task Remove(string id);

    Task<IReadOnlyList<ExperimentSummary>> List();
}

/// <summary>The request contradicts the experiment's state (a different spec under a used id; cancel after the end).</summary>
[GenerateSerializer]
public sealed class ExperimentConflictException(string message) : Exception(message);
