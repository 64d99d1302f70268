namespace HourNas.Contracts;

public sealed record VitalBlocksAnalyzed : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required IReadOnlyList<int> VitalBlocks { get; init; }
    public required int Blocks { get; init; }

    /// <summary>Number of architectures in the whole space, as text (it can exceed 64 bits).</summary>
    public required string SpaceSize { get; init; }
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

public sealed record VitalBlocksSearched : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string VitalOperations { get; init; }
    public required double ValidationAccuracy { get; init; }
    public required StageCost Cost { get; init; }

    /// <summary>The vital supernet's weights, relative to the artifact root, for stage 2's warm start.</summary>
    public required string VitalSupernet { get; init; }
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

public sealed record SearchSpaceShrunk : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string VitalOperations { get; init; }
    public required double ShrinkRatio { get; init; }
    public required string ArchitecturesInWindow { get; init; }
    public required double MinMFlops { get; init; }
    public required double MaxMFlops { get; init; }

    /// <summary>Per non-vital block, the operations some architecture in the window still uses.</summary>
    public required IReadOnlyDictionary<int, IReadOnlyList<string>> Affordable { get; init; }

    /// <summary>The max-entropy proposal's per-block sampling probabilities, in candidate order.</summary>
    public required IReadOnlyDictionary<int, IReadOnlyList<double>> Proposal { get; init; }
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

public sealed record ArchitectureSearched : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Genotype { get; init; }
    public required double MFlops { get; init; }
    public required long Params { get; init; }
    public required double ValidationAccuracy { get; init; }
    public required StageCost Cost { get; init; }
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

/// <summary>One block's accuracy drop when it is bypassed (vital blocks cannot be bypassed; they are zeroed instead).</summary>
public sealed record BlockAblation(int Block, string Operation, bool Vital, double Top1, double Drop);

public sealed record ArchitectureRetrained : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Genotype { get; init; }
    public required double MFlops { get; init; }
    public required long Params { get; init; }
    public required double Top1 { get; init; }
    public required double Top5 { get; init; }
    public required double LatencyMilliseconds { get; init; }
    public required StageCost Cost { get; init; }
    public IReadOnlyList<BlockAblation> Ablation { get; init; } = [];
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

/// <summary>
/// Live progress of a stage. Phase: <c>received</c> (a worker took the command: the stage's time starts here, not
/// when the command was queued), <c>started</c> (training began; Epoch = epochs already done, i.e. the checkpoint it
/// resumed from), <c>train</c> (a logged step), <c>epoch</c> (an epoch ended), <c>search</c> (a candidate was scored).
/// </summary>
public sealed record StageProgressed : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Stage { get; init; }
    public required string Phase { get; init; }
    public int Epoch { get; init; }
    public int Epochs { get; init; }
    public int Step { get; init; }
    public int Steps { get; init; }
    public double Loss { get; init; }
    public double Accuracy { get; init; }
    public double ImagesPerSecond { get; init; }
    public double Seconds { get; init; }
    public string? Worker { get; init; }
}

/// <summary>
/// A stage failed. Retriable failures (I/O, a lost connection) are retried with backoff and only end the experiment
/// once the retries are spent; the others (bad preset, bad genotype, impossible budget, missing data) end it now.
/// </summary>
public sealed record StageFailed : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Stage { get; init; }
    public required string Reason { get; init; }
    public required bool Retriable { get; init; }
    public string? Worker { get; init; }
}

/// <summary>
/// A worker stopped a running stage on a <see cref="CancelExperiment"/>. The coordinator sends those itself when a
/// user cancels (the experiment is then already Cancelled); any other sender's cancel ends the experiment as
/// Cancelled with a reason saying so, rather than leaving it running with no stage at work.
/// </summary>
public sealed record StageCancelled : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Stage { get; init; }
    public required string Reason { get; init; }
    public string? Worker { get; init; }
}
