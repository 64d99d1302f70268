using HourNas.Contracts;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.Pipeline;
using HourNas.SearchSpace;

namespace HourNas.Workers;

/// <summary>From a resolved <see cref="ExperimentSpec"/> to the engine's settings.</summary>
public static class EngineSettings
{
    /// <summary>The spec's learning rate is for the preset's reference batch (linear scaling rule).</summary>
    public static TrainSettings Training(ExperimentSpec spec, bool retrain, Recipe? recipe) => new(
        Epochs: (retrain ? spec.RetrainEpochs : spec.SearchEpochs)
            ?? (retrain ? ExperimentSpecs.DefaultRetrainEpochs : ExperimentSpecs.DefaultSearchEpochs),
        BatchSize: spec.BatchSize ?? ExperimentSpecs.DefaultBatchSize,
        LearningRate: spec.LearningRate,
        ReferenceBatchSize: recipe?.ReferenceBatchSize ?? TrainSettings.DefaultReferenceBatchSize);

    public static SearchSettings Search(ExperimentSpec spec) =>
        SearchSettings.Create(spec.SearchEpochs ?? ExperimentSpecs.DefaultSearchEpochs,
            spec.ValidationImages ?? ExperimentSpecs.DefaultValidationImages, spec.MinFraction,
            spec.Population, spec.Generations) with
        {
            Sharing = Sharing(spec),
            Rerank = spec.Rerank ?? ExperimentSpecs.DefaultRerank,
            RankBy = Enum.Parse<CandidateRanking>(ExperimentSpecs.Ranking(spec.RankBy), ignoreCase: true),
            KernelsApartBlocks = spec.KernelsApartBlocks ?? ExperimentSpecs.DefaultKernelsApartBlocks,
        };

    /// <summary>
    /// The spec's weight sharing as the engine's enum (checked by <see cref="ExperimentSpecs.Sharing"/>).
    /// </summary>
    public static WeightSharing Sharing(ExperimentSpec spec) =>
        Enum.Parse<WeightSharing>(ExperimentSpecs.Sharing(spec.WeightSharing), ignoreCase: true);
}
