using HourNas.Contracts;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.Components;

/// <summary>From a user's <see cref="ExperimentSpec"/> to what the engine runs: one place for the defaults.</summary>
public static class ExperimentSpecs
{
    public const int DefaultSearchEpochs = 3;
    public const int DefaultRetrainEpochs = 5;
    public const int DefaultBatchSize = 128;
    public const int DefaultValidationImages = 2000;

    /// <summary>
    /// Checks the spec and fills every null recipe field from the preset's recipe, else the defaults. Throws
    /// <see cref="SearchSpaceException"/> naming the problem (unknown preset, no budget, bad number).
    /// </summary>
    public static ExperimentSpec Resolve(ExperimentSpec spec)
    {
        var skeleton = Presets.Skeleton(spec.Preset);
        var recipe = skeleton.Recipe ?? new Recipe();
        var budget = spec.BudgetMFlops ?? skeleton.DefaultBudgetMFlops
            ?? throw new SearchSpaceException($"preset '{skeleton.Name}' has no default budget: give one (--budget-mflops)");
        if (!(budget > 0)) throw new SearchSpaceException($"the budget must be positive, got {budget} MFLOPs");
        if (!(spec.MinFraction is > 0 and <= 1)) throw new SearchSpaceException($"the window's lower fraction must be in (0, 1], got {spec.MinFraction}");
        var resolved = spec with
        {
            BudgetMFlops = budget,
            TrainLimit = spec.TrainLimit ?? recipe.TrainLimit,
            SearchEpochs = spec.SearchEpochs ?? recipe.SearchEpochs ?? DefaultSearchEpochs,
            RetrainEpochs = spec.RetrainEpochs ?? recipe.RetrainEpochs ?? DefaultRetrainEpochs,
            BatchSize = spec.BatchSize ?? recipe.BatchSize ?? DefaultBatchSize,
            Population = spec.Population ?? recipe.Population ?? new SearchSettings().EvolutionOrDefault.Population,
            Generations = spec.Generations ?? recipe.Generations ?? new SearchSettings().EvolutionOrDefault.Generations,
            ValidationImages = spec.ValidationImages ?? recipe.ValidationImages ?? DefaultValidationImages,
            WeightSharing = Sharing(spec.WeightSharing).ToString().ToLowerInvariant(),
        };
        Positive(resolved.SearchEpochs, "search epochs");
        Positive(resolved.RetrainEpochs, "retrain epochs");
        Positive(resolved.BatchSize, "batch size");
        Positive(resolved.Population, "population");
        Positive(resolved.Generations, "generations");
        Positive(resolved.ValidationImages, "validation images");
        if (resolved.TrainLimit is < 1) throw new SearchSpaceException($"the train limit must be positive, got {resolved.TrainLimit}");
        if (resolved.VitalSearchTrainLimit is < 1) throw new SearchSpaceException($"the stage-1 train limit must be positive, got {resolved.VitalSearchTrainLimit}");
        if (!(resolved.LearningRate > 0)) throw new SearchSpaceException($"the learning rate must be positive, got {resolved.LearningRate}");
        return resolved;
    }

    public static ArchitectureSpace Space(ExperimentSpec spec) => new(Presets.Skeleton(spec.Preset));

    public static Budget Budget(ExperimentSpec spec) =>
        SearchSpace.Budget.FromMFlops(spec.BudgetMFlops ?? throw new SearchSpaceException("the spec has no budget: resolve it first"), spec.MinFraction);

    public static TrainSettings Training(ExperimentSpec spec, bool retrain) => new(
        Epochs: (retrain ? spec.RetrainEpochs : spec.SearchEpochs) ?? (retrain ? DefaultRetrainEpochs : DefaultSearchEpochs),
        BatchSize: spec.BatchSize ?? DefaultBatchSize,
        LearningRate: spec.LearningRate);

    public static SearchSettings Search(ExperimentSpec spec) =>
        SearchSettings.Create(spec.SearchEpochs ?? DefaultSearchEpochs, spec.ValidationImages ?? DefaultValidationImages, spec.MinFraction,
            spec.Population, spec.Generations) with { Sharing = Sharing(spec.WeightSharing) };

    /// <summary>
    /// The spec's weight sharing, or the default when it names none; anything else is an error naming it.
    /// </summary>
    public static WeightSharing Sharing(string? name)
    {
        if (name is null) return new SearchSettings().Sharing;
        if (name.Length <= 32 && Enum.TryParse<WeightSharing>(name, ignoreCase: true, out var sharing)
            && Enum.IsDefined(sharing) && !int.TryParse(name, out _))
            return sharing;
        throw new SearchSpaceException(
            "weight sharing must be 'independent' or 'entangled', " +
            $"got '{(name.Length > 32 ? name[..32] + "..." : name)}'");
    }

    private static void Positive(int? value, string what)
    {
        if (value is not > 0) throw new SearchSpaceException($"{what} must be positive, got {value}");
    }
}
