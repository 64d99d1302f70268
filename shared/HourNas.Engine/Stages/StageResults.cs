using HourNas.Engine.Training;

namespace HourNas.Engine.Stages;

/// <summary>Search cost of a stage on one device: wall seconds (= device-seconds here) and images processed.</summary>
public sealed record StageCost(double Seconds, long TrainImages, long EvalImages)
{
    public static StageCost operator +(StageCost a, StageCost b) =>
        new(a.Seconds + b.Seconds, a.TrainImages + b.TrainImages, a.EvalImages + b.EvalImages);
}

/// <summary>
/// A search stage's results for a family of budgets (one member per budget, in order) and its whole cost, the
/// shared training counted once.
/// </summary>
public sealed record FamilySearch<T>(IReadOnlyList<T> Members, StageCost Cost);

/// <summary>
/// One architecture the search evaluated: for accuracy-vs-FLOPs plots and rank studies. <see cref="Accuracy"/> is
/// its validation top-1 and <see cref="Loss"/> its validation loss (<see cref="SearchSettings.RankBy"/> says which
/// one ranked it); <see cref="FineTuned"/> is its top-1 after the re-ranking's fine-tuning, for the few re-ranked.
/// </summary>
public sealed record EvaluatedCandidate(string Genotype, double MFlops, long Params, double Accuracy, int Generation,
    double? FineTuned = null, double? Loss = null);

/// <summary>
/// Stage 1's result. <see cref="BudgetMFlops"/> is the FLOPs limit (null when the budget bounds other metrics
/// only); <see cref="Budget"/> states every limit.
/// </summary>
public sealed record VitalSearchResult(
    string Preset,
    double? BudgetMFlops,
    IReadOnlyList<int> VitalBlocks,
    string VitalOperations,
    double ValidationAccuracy,
    TrainResult Training,
    IReadOnlyList<EvaluatedCandidate> Evaluated,
    StageCost Cost,
    string SupernetWeights,
    string? Budget = null);

/// <summary>
/// A search's result. <see cref="BudgetMFlops"/> and <see cref="MinMFlops"/> are the FLOPs window its
/// architectures fall in (the budget's, or the shrunk space's range when the budget bounds other metrics only);
/// <see cref="Budget"/> states every limit.
/// </summary>
public sealed record SearchResult(
    string Method,
    string Preset,
    string Genotype,
    double MFlops,
    long Params,
    double ValidationAccuracy,
    double BudgetMFlops,
    double MinMFlops,
    string ArchitecturesInWindow,
    double ShrinkRatio,
    double ProposalAcceptance,
    TrainResult? Training,
    IReadOnlyList<EvaluatedCandidate> Evaluated,
    StageCost Cost,
    string? Budget = null);

public sealed record RetrainResult(
    string Preset,
    string Genotype,
    double MFlops,
    long Params,
    double Top1,
    double Top5,
    double LatencyMilliseconds,
    double ImagesPerSecond,
    TrainResult Training,
    StageCost Cost,
    string Weights,
    string PyTorchWeights,
    string Onnx,
    BatchNormNote? BatchNorm = null);

/// <summary>
/// Said in a result whose BatchNorm statistics were re-estimated before testing: the training ran
/// <see cref="Steps"/> steps, fewer than <see cref="MinSteps"/>, and <see cref="Batches"/> training batches set them.
/// </summary>
public sealed record BatchNormNote(long Steps, int MinSteps, int Batches);

public sealed record AblationRow(int Block, int Stage, string Operation, bool Vital, double Top1, double Drop);

public sealed record AblationResult(
    string Preset, string Genotype, double BaselineTop1, IReadOnlyList<AblationRow> Blocks, StageCost Cost);
