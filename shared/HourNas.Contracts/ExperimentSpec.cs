namespace HourNas.Contracts;

/// <summary>
/// What the user asked for: the search space (a preset), the FLOPs budget, the data and the recipe. Carried by
/// every command so a stage worker needs nothing else. A null recipe field takes the preset's recipe, else the
/// pipeline's default; the coordinator fills them in at submission, so the experiment records what ran.
/// </summary>
public sealed record ExperimentSpec
{
    /// <summary>
    /// An embedded preset's name (`hournas presets`), never a path: a server reads no file a spec names. With
    /// <see cref="Skeleton"/> given, the skeleton's own name (filled in at submission).
    /// </summary>
    public string Preset { get; init; } = "fashion-mnist";

    /// <summary>
    /// A skeleton of the user's own, inline: the JSON document a preset file holds (at most 64 KiB). The CLI's
    /// <c>--preset FILE.json</c> reads the file on the client and sends it here.
    /// </summary>
    public string? Skeleton { get; init; }

    /// <summary>
    /// Upper end of the FLOPs window in millions. With no budget at all (FLOPs, parameters, latency) the preset's
    /// default FLOPs budget applies.
    /// </summary>
    public double? BudgetMFlops { get; init; }

    /// <summary>
    /// A family: one network per FLOPs budget, from one experiment (2 to <see cref="MaxFamilyMembers"/> distinct
    /// budgets, in MFLOPs; resolution sorts them). The budget-independent work (the vital-blocks analysis, the vital
    /// supernet's training, the stage-2 supernet's training) is done once; the parameter and latency budgets bound
    /// every member. Not together with <see cref="BudgetMFlops"/>; a single entry is the same as that field.
    /// </summary>
    public IReadOnlyList<double>? BudgetsMFlops { get; init; }

    public const int MaxFamilyMembers = 8;

    /// <summary>At most this many millions of trainable parameters; alone or with the other budgets.</summary>
    public double? BudgetMParams { get; init; }

    /// <summary>
    /// At most this many milliseconds per image, predicted from <see cref="LatencyTable"/> (required with it).
    /// </summary>
    public double? BudgetMilliseconds { get; init; }

    /// <summary>
    /// A latency table of the spec's preset, inline: the JSON document `hournas latency-table` writes (at most
    /// 256 KiB). The CLI's <c>--latency-table FILE</c> reads the file on the client and sends it here.
    /// </summary>
    public string? LatencyTable { get; init; }

    /// <summary>
    /// Lower end of the window as a fraction of the primary budget: FLOPs when given, else latency, else parameters.
    /// </summary>
    public double MinFraction { get; init; } = 0.9;

    /// <summary>
    /// Dataset folder; null takes the preset's default (Debian's Fashion-MNIST for the fashion-mnist presets).
    /// </summary>
    public string? Data { get; init; }

    /// <summary>Seeded subset of the training set, for quick runs; null trains on all of it.</summary>
    public int? TrainLimit { get; init; }

    /// <summary>
    /// Stage 1 (the vital blocks' search) trains on a seeded subset of this many images instead of
    /// <see cref="TrainLimit"/>: its space is small, and the comparison benchmark found half the images enough there.
    /// Null: the same as the others.
    /// </summary>
    public int? VitalSearchTrainLimit { get; init; }

    public ulong Seed { get; init; }

    public int? SearchEpochs { get; init; }

    public int? RetrainEpochs { get; init; }

    public int? BatchSize { get; init; }

    public double LearningRate { get; init; } = 0.1;

    public int? Population { get; init; }

    public int? Generations { get; init; }

    public int? ValidationImages { get; init; }

    /// <summary>
    /// How the search supernets hold their candidates' weights: "independent" or "entangled"; null takes the default.
    /// </summary>
    public string? WeightSharing { get; init; }

    /// <summary>
    /// How many of stage 2's best candidates are fine-tuned alone for a few steps and scored again before the pick
    /// (0: pick by inherited accuracy alone); null takes the default.
    /// </summary>
    public int? Rerank { get; init; }

    /// <summary>
    /// What the search supernets rank candidates by: "loss" (their validation cross-entropy; it ranked the reference
    /// set better, docs/results.md) or "top1"; null takes the default ("loss").
    /// </summary>
    public string? RankBy { get; init; }

    /// <summary>
    /// How many leading blocks of the search supernets hold each kernel size's entangled weights apart (0: the kernels
    /// share weights everywhere; docs/engine.md); null takes the default (1).
    /// </summary>
    public int? KernelsApartBlocks { get; init; }

    /// <summary>Also measure each block's accuracy drop on the retrained network (the vital-block ablation).</summary>
    public bool Ablate { get; init; } = true;

    /// <summary>cpu, cuda or cuda:N; null lets the worker choose (HOURNAS_DEVICE, else cpu).</summary>
    public string? Device { get; init; }

    /// <summary>
    /// Field-by-field equality, lists by their items (a record's own equality compares lists by reference, so a
    /// family spec sent twice would differ from itself).
    /// </summary>
    public bool SameAs(ExperimentSpec? other) => other is not null
        && (this with { BudgetsMFlops = null }) == (other with { BudgetsMFlops = null })
        && (BudgetsMFlops ?? []).SequenceEqual(other.BudgetsMFlops ?? [])
        && (BudgetsMFlops is null) == (other.BudgetsMFlops is null);
}
