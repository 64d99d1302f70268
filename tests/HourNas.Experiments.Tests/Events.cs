using HourNas.Contracts;
using HourNas.Experiments;

namespace HourNas.Experiments.Tests;

/// <summary>Each stage's event as a worker would publish it, and the steps of walking an experiment along.</summary>
public static class Events
{
    public static readonly ExperimentSpec Spec = new() { Preset = "smoke", BudgetMFlops = 0.3, Seed = 7 };

    private static readonly StageCost Cost = new(12.5, 1000, 200);

    public static IStageResult For(string stage, string id, int attempt = 1) => stage switch
    {
        PipelineStages.VitalBlocks => new VitalBlocksAnalyzed
        {
            ExperimentId = id,
            Attempt = attempt,
            VitalBlocks = [0, 3],
            Blocks = 5,
            SpaceSize = "1000",
            Artifacts = [new ArtifactRef("vital-blocks", $"{id}/vital-blocks/vital-blocks.json")],
        },
        PipelineStages.VitalSearch => new VitalBlocksSearched
        {
            ExperimentId = id,
            Attempt = attempt,
            VitalOperations = "k3e1 k5e3",
            ValidationAccuracy = 0.61,
            Cost = Cost,
            VitalSupernet = $"{id}/stage1/vital-supernet.dat",
        },
        PipelineStages.Shrink => new SearchSpaceShrunk
        {
            ExperimentId = id,
            Attempt = attempt,
            VitalOperations = "k3e1 k5e3",
            ShrinkRatio = 0.25,
            ArchitecturesInWindow = "40",
            MinMFlops = 0.2,
            MaxMFlops = 0.3,
            Affordable = new Dictionary<int, IReadOnlyList<string>>(),
            Proposal = new Dictionary<int, IReadOnlyList<double>>(),
        },
        PipelineStages.NonVitalSearch => new ArchitectureSearched
        {
            ExperimentId = id,
            Attempt = attempt,
            Genotype = "k3e1 | k3e3 skip | k5e3 k3e3",
            MFlops = 0.28,
            Params = 5000,
            ValidationAccuracy = 0.7,
            Cost = Cost,
        },
        PipelineStages.Retrain => new ArchitectureRetrained
        {
            ExperimentId = id,
            Attempt = attempt,
            Genotype = "k3e1 | k3e3 skip | k5e3 k3e3",
            MFlops = 0.28,
            Params = 5000,
            Top1 = 0.8,
            Top5 = 0.99,
            LatencyMilliseconds = 1.5,
            Cost = Cost,
        },
        _ => throw new ArgumentException(stage),
    };

    public static StageProgressed Progress(string id, string stage, string phase, int attempt = 1) => new()
    {
        ExperimentId = id,
        Attempt = attempt,
        Stage = stage,
        Phase = phase,
        Loss = 1,
        Accuracy = 0.5,
        Seconds = Random.Shared.NextDouble(),
        Worker = "w1",
    };

    /// <summary>Submits <paramref name="id"/> and completes its stages before <paramref name="upTo"/>.</summary>
    public static async Task<IExperimentGrain> RunUpTo(IGrainFactory grains, string id, string upTo)
    {
        var grain = grains.GetGrain<IExperimentGrain>(id);
        await grain.Submit(Spec, null);
        foreach (var stage in PipelineStages.All.TakeWhile(s => s != upTo))
            await grain.OnStageCompleted(For(stage, id));
        return grain;
    }
}
