namespace HourNas.Experiments;

/// <summary>The keys of <see cref="StageRecord.Metrics"/>: written by <see cref="ExperimentPipeline"/>, read by the
/// report, the pages and the CLI.</summary>
public static class StageMetrics
{
    public const string Blocks = "blocks";
    public const string VitalBlocks = "vitalBlocks";
    public const string ValidationTop1 = "validationTop1";
    public const string ShrinkRatio = "shrinkRatio";
    public const string MinMFlops = "minMFlops";
    public const string MaxMFlops = "maxMFlops";
    public const string MFlops = "mflops";
    public const string Top1 = "top1";
    public const string Top5 = "top5";
    public const string SearchSeconds = "searchSeconds";
    public const string TrainImages = "trainImages";
    public const string EvalImages = "evalImages";
}
