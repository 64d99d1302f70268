using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.SearchComparison;

/// <summary>
/// How much work each method gets. Design choices (ours, documented in docs/results.md): HourNAS trains the cheap
/// vital supernet a little and the stage-2 supernet less than SPOS trains its full supernet, since the whole
/// point is to reach the same accuracy for less; every method gets the same evolution and the same retraining.
/// </summary>
public sealed record Profile(
    string Name,
    int? TrainLimit,
    int Stage1Epochs,
    int Stage2Epochs,
    int SposEpochs,
    int RandomCandidates,
    int RandomEpochs,
    int RetrainEpochs,
    int RankSample,
    int RankEpochs,
    int AblationEpochs,
    EvolutionSettings Evolution,
    int ValidationImages,
    int BatchSize)
{
    public static Profile Quick { get; } = new("quick", TrainLimit: 12_000, Stage1Epochs: 2, Stage2Epochs: 1, SposEpochs: 3,
        RandomCandidates: 4, RandomEpochs: 1, RetrainEpochs: 2, RankSample: 6, RankEpochs: 1, AblationEpochs: 2,
        new EvolutionSettings(Population: 10, Generations: 3, Parents: 4, Mutations: 5, Crossovers: 5), ValidationImages: 1000, BatchSize: 64);

    public static Profile Full { get; } = new("full", TrainLimit: null, Stage1Epochs: 3, Stage2Epochs: 2, SposEpochs: 6,
        RandomCandidates: 10, RandomEpochs: 2, RetrainEpochs: 5, RankSample: 10, RankEpochs: 2, AblationEpochs: 5,
        new EvolutionSettings(Population: 20, Generations: 5, Parents: 5, Mutations: 10, Crossovers: 10), ValidationImages: 2000, BatchSize: 64);

    public TrainSettings Train => new(BatchSize: BatchSize);

    public SearchSettings Search(int epochs) => new(Epochs: epochs, ValidationImages: ValidationImages, Evolution: Evolution,
        RandomCandidates: RandomCandidates);
}
