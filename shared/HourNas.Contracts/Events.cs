namespace HourNas.Contracts;

/// <summary>
/// The event that ends a stage (one per <see cref="StageDefinition"/>): what the stage found and wrote.
/// </summary>
public interface IStageResult : IStageMessage
{
    IReadOnlyList<ArtifactRef> Artifacts { get; }
}

public sealed record VitalBlocksAnalyzed : IStageResult
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required IReadOnlyList<int> VitalBlocks { get; init; }
    public required int Blocks { get; init; }

    /// <summary>Number of architectures in the whole space, as text (it can exceed 64 bits).</summary>
    public required string SpaceSize { get; init; }
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

public sealed record VitalBlocksSearched : IStageResult
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string VitalOperations { get; init; }
    public required double ValidationAccuracy { get; init; }
    public required StageCost Cost { get; init; }

    /// <summary>The vital supernet's weights, relative to the artifact root, for stage 2's warm start.</summary>
    public required string VitalSupernet { get; init; }

    /// <summary>
    /// A family's members in budget order, each evolved on the one vital supernet; empty for one budget. The fields
    /// above then describe the first member.
    /// </summary>
    public IReadOnlyList<MemberVitalChoice> Members { get; init; } = [];
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

/// <summary>A family member's vital operations under its FLOPs budget.</summary>
public sealed record MemberVitalChoice(double BudgetMFlops, string VitalOperations, double ValidationAccuracy);

/// <summary>A family member's shrunk space.</summary>
public sealed record MemberSpaceShrunk(double BudgetMFlops, string VitalOperations, double ShrinkRatio,
    string ArchitecturesInWindow, double MinMFlops, double MaxMFlops, string Budget);

/// <summary>A family member's architecture, found on the family's one stage-2 supernet.</summary>
public sealed record MemberArchitecture(double BudgetMFlops, string Genotype, double MFlops, long Params,
    double ValidationAccuracy);

/// <summary>
/// A retrained network of a family: a member (<see cref="BudgetMFlops"/> set) or the preset's hand-designed
/// reference network (<see cref="Name"/> "manual", no budget).
/// </summary>
public sealed record MemberRetrained(string Name, double? BudgetMFlops, string Genotype, double MFlops, long Params,
    double Top1, double Top5, double LatencyMilliseconds);

public sealed record SearchSpaceShrunk : IStageResult
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string VitalOperations { get; init; }
    public required double ShrinkRatio { get; init; }
    public required string ArchitecturesInWindow { get; init; }
    /// <summary>
    /// The FLOPs window of the shrunk space (the budget's, or its reachable range without a FLOPs limit).
    /// </summary>
    public required double MinMFlops { get; init; }
    public required double MaxMFlops { get; init; }

    /// <summary>Every limit of the budget in words, e.g. "[1.80, 2.00] MFLOPs and &lt;= 0.050 M params".</summary>
    public string? Budget { get; init; }

    /// <summary>Per non-vital block, the operations some architecture in the window still uses.</summary>
    public required IReadOnlyDictionary<int, IReadOnlyList<string>> Affordable { get; init; }

    /// <summary>The max-entropy proposal's per-block sampling probabilities, in candidate order.</summary>
    public required IReadOnlyDictionary<int, IReadOnlyList<double>> Proposal { get; init; }

    /// <summary>A family's members in budget order; empty for one budget (the fields above: member 1).</summary>
    public IReadOnlyList<MemberSpaceShrunk> Members { get; init; } = [];
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

public sealed record ArchitectureSearched : IStageResult
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Genotype { get; init; }
    public required double MFlops { get; init; }
    public required long Params { get; init; }
    public required double ValidationAccuracy { get; init; }
    public required StageCost Cost { get; init; }

    /// <summary>A family's members in budget order; empty for one budget (the fields above: member 1).</summary>
    public IReadOnlyList<MemberArchitecture> Members { get; init; } = [];
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

/// <summary>
/// One block's accuracy drop when it is bypassed (vital blocks cannot be bypassed; they are zeroed instead).
/// </summary>
public sealed record BlockAblation(int Block, string Operation, bool Vital, double Top1, double Drop);

public sealed record ArchitectureRetrained : IStageResult
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

    /// <summary>
    /// A family's retrained networks: the members in budget order, then the preset's hand-designed reference network
    /// when it has one; empty for one budget. The fields above describe the first member.
    /// </summary>
    public IReadOnlyList<MemberRetrained> Members { get; init; } = [];
    public IReadOnlyList<ArtifactRef> Artifacts { get; init; } = [];
}

/// <summary>
/// Live progress of a stage; <see cref="Phase"/> is one of <see cref="ProgressPhases"/>.
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
/// A try of a stage failed with a fault that may pass (I/O, a lost connection) and the bus retries it with backoff.
/// Not an end: the experiment records the reason and waits. The only terminal signal is the <c>Fault</c> of the
/// command, published once the bus's retries are spent or when the input was rejected
/// (<see cref="StageRejectedException"/>, never retried and not reported here).
/// </summary>
public sealed record StageFailed : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Stage { get; init; }
    public required string Reason { get; init; }
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
