using HourNas.Contracts;

namespace HourNas.Experiments;

public enum ExperimentStatus { Submitted, Running, Completed, Failed, Cancelled }

public enum StageStatus { Running, Completed, Failed, Cancelled }

/// <summary>
/// One stage of one experiment: when it ran, how often a worker started it, what it measured and wrote.
/// </summary>
[GenerateSerializer]
public sealed record StageRecord
{
    [Id(0)] public required string Stage { get; init; }
    [Id(1)] public StageStatus Status { get; set; } = StageStatus.Running;

    /// <summary>
    /// The coordinator's attempt at this stage (1, then 2... when it retries after a fault or a silent worker; each
    /// attempt is its own record).
    /// </summary>
    [Id(2)] public int Attempt { get; init; } = 1;

    /// <summary>How many times a worker started this attempt: more than 1 after a crash and redelivery.</summary>
    [Id(3)] public int Starts { get; set; }

    /// <summary>Epochs the latest start found already done in its checkpoint (0 = from scratch).</summary>
    [Id(4)] public int ResumedFromEpoch { get; set; }
    [Id(5)] public DateTimeOffset StartedAt { get; init; }
    [Id(6)] public DateTimeOffset? EndedAt { get; set; }
    [Id(7)] public Dictionary<string, double> Metrics { get; init; } = [];
    [Id(8)] public List<ArtifactRef> Artifacts { get; set; } = [];
    [Id(9)] public List<string> Failures { get; init; } = [];
    [Id(10)] public List<string> Workers { get; init; } = [];

    /// <summary>
    /// When the stage's command went to the bus; null while it is recorded as running but not yet sent.
    /// </summary>
    [Id(11)] public DateTimeOffset? CommandSentAt { get; set; }

    /// <summary>
    /// When the coordinator heard that a worker took the command (its <c>received</c> report); null before, for old
    /// records, and when the report came only after the stage's result (a stage of milliseconds).
    /// </summary>
    [Id(12)] public DateTimeOffset? ReceivedAt { get; set; }

    /// <summary>The stage's working time: from a worker taking the command to the end, queue wait excluded.</summary>
    public double? Seconds => EndedAt is { } end ? SecondsAt(end) : null;

    /// <summary>Working seconds up to <paramref name="now"/> (a running stage's so far).</summary>
    public double SecondsAt(DateTimeOffset now) => ((EndedAt ?? now) - (ReceivedAt ?? StartedAt)).TotalSeconds;

    /// <summary>Seconds the command waited for a worker (to now while none has taken it).</summary>
    public double QueueSecondsAt(DateTimeOffset now) => ((ReceivedAt ?? EndedAt ?? now) - StartedAt).TotalSeconds;
}

/// <summary>A progress report as the experiment keeps it (the history behind the training curves).</summary>
[GenerateSerializer]
public sealed record ProgressPoint(
    [property: Id(0)] string Stage,
    [property: Id(1)] string Phase,
    [property: Id(2)] int Epoch,
    [property: Id(3)] int Step,
    [property: Id(4)] int Steps,
    [property: Id(5)] double Loss,
    [property: Id(6)] double Accuracy,
    [property: Id(7)] double ImagesPerSecond,
    [property: Id(8)] double Seconds,
    [property: Id(9)] DateTimeOffset At,
    [property: Id(10)] int Epochs = 0);

/// <summary>The whole record of an experiment, persisted by the grain and returned by the API.</summary>
[GenerateSerializer]
public sealed record ExperimentState
{
    [Id(0)] public string Id { get; set; } = "";
    [Id(1)] public ExperimentSpec? Spec { get; set; }
    [Id(2)] public ExperimentStatus Status { get; set; }
    [Id(3)] public string? CurrentStage { get; set; }
    [Id(4)] public List<StageRecord> Stages { get; init; } = [];
    [Id(5)] public List<ProgressPoint> Progress { get; init; } = [];
    [Id(6)] public DateTimeOffset SubmittedAt { get; set; }
    [Id(7)] public DateTimeOffset? EndedAt { get; set; }

    /// <summary>W3C traceparent of the experiment's root span: every stage's span is its child.</summary>
    [Id(8)] public string? TraceParent { get; set; }
    [Id(9)] public string? FailureReason { get; set; }
    [Id(10)] public IReadOnlyList<int>? VitalBlocks { get; set; }
    [Id(11)] public string? VitalOperations { get; set; }
    [Id(12)] public string? VitalSupernet { get; set; }
    [Id(13)] public double? ShrinkRatio { get; set; }
    [Id(14)] public string? Genotype { get; set; }
    [Id(15)] public ArchitectureRetrained? Result { get; set; }

    /// <summary>A cancel the workers must hear that has not reached the broker yet (the reminder sends it).</summary>
    [Id(16)] public CancelExperiment? PendingCancel { get; set; }

    /// <summary>A family's vital operations per member (stage 1), in budget order; null for one budget.</summary>
    [Id(17)] public IReadOnlyList<string>? MemberVitalOperations { get; set; }

    /// <summary>A family's genotypes per member (stage 2), in budget order; null for one budget.</summary>
    [Id(18)] public IReadOnlyList<string>? MemberGenotypes { get; set; }

    public bool IsFinished =>
        Status is ExperimentStatus.Completed or ExperimentStatus.Failed or ExperimentStatus.Cancelled;

    /// <summary>
    /// The last stage is done and the coordinator has yet to write the report and complete the experiment.
    /// </summary>
    public bool AwaitsReport => Status == ExperimentStatus.Running && Result is not null
        && CurrentStage == PipelineStages.Last.Name && Stage(CurrentStage) is { Status: StageStatus.Completed };

    public StageRecord? Stage(string name) => Stages.LastOrDefault(s => s.Stage == name);
}

/// <summary>One line of the experiment list.</summary>
[GenerateSerializer]
public sealed record ExperimentSummary(
    [property: Id(0)] string Id,
    [property: Id(1)] string Preset,
    [property: Id(2)] ExperimentStatus Status,
    [property: Id(3)] string? CurrentStage,
    [property: Id(4)] DateTimeOffset SubmittedAt,
    [property: Id(5)] DateTimeOffset? EndedAt,
    [property: Id(6)] double? Top1);
