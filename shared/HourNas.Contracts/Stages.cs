namespace HourNas.Contracts;

/// <summary>
/// One stage of the pipeline as the bus sees it: its name (the artifact folder and the span name), the command that
/// starts it, the event that ends it, the queue its workers read, and whether a worker takes one command at a time.
/// </summary>
/// <param name="OneAtATime">Training stages: a worker runs one at a time, prefetching nothing, so idle workers get
/// the next command.</param>
public sealed record StageDefinition(string Name, Type Command, Type Event, string Queue, bool OneAtATime);

/// <summary>
/// The pipeline's stages, in order: the one declaration of the sequence. The coordinator's grain walks it
/// (<c>ExperimentPipeline</c> says what each stage's command carries and what its event records), the coordinator
/// consumes every <see cref="StageDefinition.Event"/> and the <c>Fault</c> of every command, and a worker registers
/// the consumer of each command it serves. Adding a stage: its two records, its row here and in
/// <c>ExperimentPipeline</c>, its consumer.
/// </summary>
public static class PipelineStages
{
    public const string VitalBlocks = "vital-blocks";
    public const string VitalSearch = "stage1";
    public const string Shrink = "shrink";
    public const string NonVitalSearch = "stage2";
    public const string Retrain = "retrain";

    /// <summary>
    /// Both supernet stages share one queue, so a SupernetTraining worker (one GPU in a cluster) trains one supernet
    /// at a time whichever stage it is.
    /// </summary>
    public const string SupernetQueue = "supernet-training";

    public static readonly IReadOnlyList<StageDefinition> Sequence =
    [
        new(VitalBlocks, typeof(AnalyzeVitalBlocks), typeof(VitalBlocksAnalyzed), "analyze-vital-blocks", false),
        new(VitalSearch, typeof(SearchVitalBlocks), typeof(VitalBlocksSearched), SupernetQueue, true),
        new(Shrink, typeof(ShrinkSearchSpace), typeof(SearchSpaceShrunk), "shrink-search-space", false),
        new(NonVitalSearch, typeof(SearchNonVitalBlocks), typeof(ArchitectureSearched), SupernetQueue, true),
        new(Retrain, typeof(RetrainArchitecture), typeof(ArchitectureRetrained), "retrain-architecture", true),
    ];

    public static readonly IReadOnlyList<string> All = [.. Sequence.Select(s => s.Name)];

    public static StageDefinition First => Sequence[0];

    public static StageDefinition Last => Sequence[^1];

    /// <summary>The stage named <paramref name="name"/>; an unknown name is an error listing the stages.</summary>
    public static StageDefinition Named(string name) => Sequence.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"unknown stage '{BoundedText.Shown(name, 64)}': the stages are " +
            string.Join(", ", All));

    /// <summary>The stage after <paramref name="stage"/>, or null after the last.</summary>
    public static StageDefinition? After(StageDefinition stage)
    {
        var i = IndexOf(stage.Name);
        return i + 1 < Sequence.Count ? Sequence[i + 1] : null;
    }

    public static StageDefinition OfCommand(Type command) => Sequence.FirstOrDefault(s => s.Command == command)
        ?? throw new ArgumentException($"{command.Name} is not a stage command");

    public static StageDefinition OfEvent(Type @event) => Sequence.FirstOrDefault(s => s.Event == @event)
        ?? throw new ArgumentException($"{@event.Name} is not a stage event");

    private static int IndexOf(string name)
    {
        for (var i = 0; i < Sequence.Count; i++)
            if (Sequence[i].Name == name) return i;
        throw new ArgumentException($"unknown stage '{name}'");
    }
}

/// <summary>
/// The phases of a <see cref="StageProgressed"/> report, as they cross the wire (the engine's progress reports use the
/// same names).
/// </summary>
public static class ProgressPhases
{
    /// <summary>A worker took the command: the stage's working time starts here, not when it was queued.</summary>
    public const string Received = "received";

    /// <summary>Training began; Epoch = epochs already done (the checkpoint it resumed from).</summary>
    public const string Started = "started";

    /// <summary>A logged training step.</summary>
    public const string Train = "train";

    /// <summary>An epoch ended.</summary>
    public const string Epoch = "epoch";

    /// <summary>A candidate architecture was scored.</summary>
    public const string Search = "search";

    /// <summary>One of the search's best candidates was fine-tuned and scored again (Step of Steps).</summary>
    public const string Rerank = "rerank";

    public static readonly IReadOnlyList<string> All = [Received, Started, Train, Epoch, Search, Rerank];

    /// <summary>
    /// How much of a stage a report says is done, in [0, 1]: Epoch is 1-based and Step counts inside it; a search
    /// reports its candidates as the steps of its one epoch. NaN when the report has no steps.
    /// </summary>
    public static double Fraction(int epoch, int epochs, int step, int steps) =>
        steps <= 0
            ? double.NaN
            : Math.Clamp((Math.Max(epoch - 1, 0) + (double)step / steps) / Math.Max(epochs, 1), 0, 1);
}

/// <summary>Every command and event of the pipeline names its experiment and the stage attempt it belongs to.</summary>
public interface IStageMessage
{
    string ExperimentId { get; }

    /// <summary>
    /// 1 for the coordinator's first command of a stage; each retry of the stage by the coordinator (after a fault
    /// that was not a rejection of the input, or a silent worker) sends the next number. Results of another attempt
    /// than the running one are ignored.
    /// </summary>
    int Attempt { get; }
}

/// <summary>Search cost of a stage: wall seconds on its device and the images it processed.</summary>
public sealed record StageCost(double Seconds, long TrainImages, long EvalImages);

/// <summary>A file the stage wrote, relative to the artifact root (<c>experiment/stage/name</c>).</summary>
public sealed record ArtifactRef(string Name, string Path);

/// <summary>
/// A stage cannot succeed with this input (bad preset, genotype, budget or data): the bus does not retry it, the
/// message goes straight to the error queue, and the <c>Fault</c> that names this type fails the experiment with
/// <see cref="Exception.Message"/>; the coordinator does not retry the stage either.
/// </summary>
public sealed class StageRejectedException(string message, Exception? inner = null) : Exception(message, inner);
