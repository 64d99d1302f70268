using HourNas.Components.Reports;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HourNas.Components.Coordinator;

/// <summary>The coordinator's side of the bus: every stage event goes to its experiment's grain, which decides what comes next.</summary>
public sealed class ExperimentEventsConsumer(IGrainFactory grains, ArtifactStore store, IOptions<PipelineOptions> options,
    ILogger<ExperimentEventsConsumer> logger) :
    IConsumer<VitalBlocksAnalyzed>, IConsumer<VitalBlocksSearched>, IConsumer<SearchSpaceShrunk>, IConsumer<ArchitectureSearched>,
    IConsumer<ArchitectureRetrained>, IConsumer<StageProgressed>, IConsumer<StageFailed>, IConsumer<StageCancelled>
{
    private IExperimentGrain Grain(IStageMessage m) => grains.GetGrain<IExperimentGrain>(m.ExperimentId);

    public Task Consume(ConsumeContext<VitalBlocksAnalyzed> context) => Grain(context.Message).OnVitalBlocksAnalyzed(context.Message);

    public Task Consume(ConsumeContext<VitalBlocksSearched> context) => Grain(context.Message).OnVitalBlocksSearched(context.Message);

    public Task Consume(ConsumeContext<SearchSpaceShrunk> context) => Grain(context.Message).OnSearchSpaceShrunk(context.Message);

    public Task Consume(ConsumeContext<ArchitectureSearched> context) => Grain(context.Message).OnArchitectureSearched(context.Message);

    /// <summary>
    /// Records the result, writes the report (CSVs, plots, final weights) into the experiment's folder, then completes
    /// the experiment. A redelivery after a crash between the two finds the result recorded and finishes the job.
    /// </summary>
    public async Task Consume(ConsumeContext<ArchitectureRetrained> context)
    {
        var grain = Grain(context.Message);
        await grain.OnArchitectureRetrained(context.Message);
        if (await grain.Get() is not { Status: ExperimentStatus.Running, Result: not null } state) return;
        // The report shows the experiment as it is once completed, so its experiment.json agrees with the API.
        var endedAt = DateTimeOffset.UtcNow;
        IReadOnlyList<ArtifactRef> report = [];
        if (options.Value.WriteReports)
        {
            try
            {
                report = ExperimentReport.Write(state with { Status = ExperimentStatus.Completed, EndedAt = endedAt }, store).Select(f => new ArtifactRef(Path.GetFileName(f), store.Relative(f))).ToArray();
            }
            catch (Exception e) when (e is IOException or FileNotFoundException or UnauthorizedAccessException)
            {
                // The experiment is complete either way, and every stage's own artifacts are in place.
                logger.LogWarning(e, "Experiment {Id}: report not written", state.Id);
            }
        }
        await grain.Complete(report, endedAt);
    }

    public Task Consume(ConsumeContext<StageProgressed> context) => Grain(context.Message).OnProgress(context.Message);

    public Task Consume(ConsumeContext<StageFailed> context) => Grain(context.Message).OnStageFailed(context.Message);

    public Task Consume(ConsumeContext<StageCancelled> context) =>
        Grain(context.Message).OnStageCancelled(context.Message);
}

/// <summary>
/// A stage command that exhausted its retries (or was rejected) ends in the error queue and MassTransit publishes a
/// Fault for it: the experiment fails with the exception's message, so nothing fails silently.
/// </summary>
public sealed class StageFaultConsumer(IGrainFactory grains) :
    IConsumer<Fault<AnalyzeVitalBlocks>>, IConsumer<Fault<SearchVitalBlocks>>, IConsumer<Fault<ShrinkSearchSpace>>,
    IConsumer<Fault<SearchNonVitalBlocks>>, IConsumer<Fault<RetrainArchitecture>>
{
    public Task Consume(ConsumeContext<Fault<AnalyzeVitalBlocks>> context) => Fail(context.Message, PipelineStages.VitalBlocks);

    public Task Consume(ConsumeContext<Fault<SearchVitalBlocks>> context) => Fail(context.Message, PipelineStages.VitalSearch);

    public Task Consume(ConsumeContext<Fault<ShrinkSearchSpace>> context) => Fail(context.Message, PipelineStages.Shrink);

    public Task Consume(ConsumeContext<Fault<SearchNonVitalBlocks>> context) => Fail(context.Message, PipelineStages.NonVitalSearch);

    public Task Consume(ConsumeContext<Fault<RetrainArchitecture>> context) => Fail(context.Message, PipelineStages.Retrain);

    private Task Fail<T>(Fault<T> fault, string stage) where T : IStageMessage
    {
        var reason = fault.Exceptions.FirstOrDefault()?.Message ?? "the stage faulted";
        return grains.GetGrain<IExperimentGrain>(fault.Message.ExperimentId).OnStageFailed(new StageFailed
        {
            ExperimentId = fault.Message.ExperimentId, Attempt = fault.Message.Attempt, Stage = stage, Reason = reason, Retriable = false,
            Worker = fault.Host?.MachineName,
        });
    }
}
