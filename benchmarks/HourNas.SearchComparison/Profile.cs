using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.SearchComparison;

/// <summary>
/// How much work each method gets. Design choices (ours, documented in docs/results.md):
/// - HourNAS trains the small vital supernet (4 blocks, 9^4 = 6,561 paths) for one pass over half the training
///   images, the warm-started stage-2 supernet for 1 epoch, and sizes each evolution to its space: stage 1
///   chooses among the 6,561 vital choices, stage 2 among the bulbs of one neck, both far smaller than the 23 M
///   architectures SPOS must rank in the window;
/// - SPOS trains its full supernet for 6 epochs with the largest evolution;
/// - `spos-short` is the control: SPOS with about HourNAS's work (2 epochs, up to 80 evaluations), so a cost
///   saving can be told apart from "less search would do anyway";
/// - every method scores candidates the same way and every pick is retrained with the same recipe.
/// </summary>
public sealed record Profile(
    string Name,
    int? TrainLimit,
    int? Stage1TrainLimit,
    int Stage1Epochs,
    EvolutionSettings Stage1Evolution,
    int Stage2Epochs,
    EvolutionSettings Stage2Evolution,
    int SposEpochs,
    EvolutionSettings SposEvolution,
    int SposShortEpochs,
    EvolutionSettings SposShortEvolution,
    int RandomCandidates,
    int RandomEpochs,
    int RetrainEpochs,
    int RankSample,
    int RankEpochs,
    int AblationEpochs,
    int ValidationImages,
    int BatchSize)
{
    private static readonly EvolutionSettings Small =
        new(Population: 10, Generations: 3, Parents: 4, Mutations: 5, Crossovers: 5);

    private static readonly EvolutionSettings Large =
        new(Population: 20, Generations: 5, Parents: 5, Mutations: 10, Crossovers: 10);

    public static Profile Quick { get; } = new("quick", TrainLimit: 12_000, Stage1TrainLimit: 6_000,
        Stage1Epochs: 1, Stage1Evolution: Small, Stage2Epochs: 1, Stage2Evolution: Small,
        SposEpochs: 3, SposEvolution: Large,
        SposShortEpochs: 2, SposShortEvolution: Small with { Generations = 7 },
        RandomCandidates: 4, RandomEpochs: 1, RetrainEpochs: 2, RankSample: 6, RankEpochs: 1, AblationEpochs: 2,
        ValidationImages: 1000, BatchSize: 64);

    public static Profile Full { get; } = new("full", TrainLimit: null, Stage1TrainLimit: 30_000,
        Stage1Epochs: 1, Stage1Evolution: Small, Stage2Epochs: 1, Stage2Evolution: Small,
        SposEpochs: 6, SposEvolution: Large,
        SposShortEpochs: 2, SposShortEvolution: Small with { Generations = 7 },
        RandomCandidates: 6, RandomEpochs: 2, RetrainEpochs: 5, RankSample: 10, RankEpochs: 2, AblationEpochs: 5,
        ValidationImages: 2000, BatchSize: 64);

    /// <summary>
    /// The methods in the order seed 1 runs them; later seeds rotate it. `random-pick` is the user without a
    /// search: one architecture drawn from the window, retrained (search cost 0).
    /// </summary>
    public static IReadOnlyList<string> Methods { get; } =
    [
        "hournas", "hournas-rerank", "hournas-top1", "hournas-kernels", "hournas-shared-kernels", "spos",
        "random-pick", "random", "spos-short",
    ];

    /// <summary>
    /// `hournas-rerank`: stage 2's best candidates fine-tuned and scored again before the pick. `hournas-top1`: both
    /// stages rank candidates by validation top-1 instead of the default validation loss. `hournas-kernels`: both
    /// stages' supernets hold block 0's kernels apart (<see cref="KernelsApartBlocks"/>).
    /// </summary>
    public const int Rerank = 3;

    /// <summary>
    /// The leading blocks whose kernels `hournas-kernels` holds apart: block 0, as in the rank study and (since
    /// 2026-12-07) the default, so it now runs as `hournas` does; `hournas-shared-kernels` holds none apart, the
    /// layout of before (what `hournas` ran in the comparison that chose the default).
    /// </summary>
    public const int KernelsApartBlocks = 1;

    /// <summary>
    /// Runs grouped per method, in <see cref="Methods"/> order (then any other method), for tables and plots.
    /// </summary>
    public static IEnumerable<IGrouping<string, RunRecord>> InMethodOrder(IEnumerable<RunRecord> runs) =>
        runs.GroupBy(x => x.Method)
            .OrderBy(g => Methods.Contains(g.Key) ? Methods.TakeWhile(m => m != g.Key).Count() : int.MaxValue);

    public TrainSettings Train => new(BatchSize: BatchSize);

    /// <summary>
    /// Every pick is retrained with `stage retrain`'s default recipe, the one the committed reference set was
    /// trained with, so a pick can be placed among the reference architectures.
    /// </summary>
    public TrainSettings Retrain => new(Epochs: RetrainEpochs);

    public SearchSettings Search(int epochs, EvolutionSettings? evolution = null) =>
        new(Epochs: epochs, ValidationImages: ValidationImages, Evolution: evolution,
            RandomCandidates: RandomCandidates);
}
