namespace HourNas.Contracts;

/// <summary>Find the vital blocks of the preset's skeleton (the bridges of its block graph).</summary>
public sealed record AnalyzeVitalBlocks : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required ExperimentSpec Spec { get; init; }
}

/// <summary>Stage 1: train the vital supernet and evolve the vital blocks' operations.</summary>
public sealed record SearchVitalBlocks : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required ExperimentSpec Spec { get; init; }
}

/// <summary>
/// Shrink the non-vital blocks' candidates to what the budget affords around the chosen vital operations.
/// </summary>
public sealed record ShrinkSearchSpace : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required ExperimentSpec Spec { get; init; }
    public required string VitalOperations { get; init; }

    /// <summary>A family's vital operations per member, in budget order; empty for one budget.</summary>
    public IReadOnlyList<string> MemberVitalOperations { get; init; } = [];
}

/// <summary>Stage 2: train the shrunk supernet (warm-started from stage 1's) and evolve the non-vital blocks.</summary>
public sealed record SearchNonVitalBlocks : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required ExperimentSpec Spec { get; init; }
    public required string VitalOperations { get; init; }

    /// <summary>Stage 1's supernet weights, relative to the artifact root; null trains stage 2 from scratch.</summary>
    public string? VitalSupernet { get; init; }

    /// <summary>
    /// A family's vital operations per member, in budget order; empty for one budget. A family trains one stage-2
    /// supernet over every member's space and evolves each member inside its own.
    /// </summary>
    public IReadOnlyList<string> MemberVitalOperations { get; init; } = [];
}

/// <summary>
/// Train the found architecture from scratch and measure it on the test set (and, if asked, ablate its blocks).
/// </summary>
public sealed record RetrainArchitecture : IStageMessage
{
    public required string ExperimentId { get; init; }
    public int Attempt { get; init; } = 1;
    public required ExperimentSpec Spec { get; init; }
    public required string Genotype { get; init; }

    /// <summary>A family's genotypes per member, in budget order; empty for one budget.</summary>
    public IReadOnlyList<string> MemberGenotypes { get; init; } = [];
}

/// <summary>Stop the experiment's running stage. Every worker instance receives it (fan-out).</summary>
public sealed record CancelExperiment
{
    public required string ExperimentId { get; init; }
    public string Reason { get; init; } = "cancelled by the user";

    /// <summary>
    /// Stop only attempts up to this one (the coordinator retrying a silent stage stops the old attempt, not the new);
    /// null stops every attempt, later ones included.
    /// </summary>
    public int? UpToAttempt { get; init; }
}
