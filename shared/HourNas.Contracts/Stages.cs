namespace HourNas.Contracts;

/// <summary>The pipeline's stages, in order. The names are the artifact folder names and the span names.</summary>
public static class PipelineStages
{
    public const string VitalBlocks = "vital-blocks";
    public const string VitalSearch = "stage1";
    public const string Shrink = "shrink";
    public const string NonVitalSearch = "stage2";
    public const string Retrain = "retrain";

    public static readonly IReadOnlyList<string> All = [VitalBlocks, VitalSearch, Shrink, NonVitalSearch, Retrain];
}

/// <summary>Every command and event of the pipeline names its experiment and the stage attempt it belongs to.</summary>
public interface IStageMessage
{
    string ExperimentId { get; }

    /// <summary>1 for the coordinator's first command of a stage; the coordinator increments it when it retries the stage.</summary>
    int Attempt { get; }
}

/// <summary>Search cost of a stage: wall seconds on its device and the images it processed.</summary>
public sealed record StageCost(double Seconds, long TrainImages, long EvalImages);

/// <summary>A file the stage wrote, relative to the artifact root (<c>experiment/stage/name</c>).</summary>
public sealed record ArtifactRef(string Name, string Path);
