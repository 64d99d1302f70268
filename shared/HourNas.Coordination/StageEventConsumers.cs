using HourNas.Contracts;
using HourNas.Coordination.Reports;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HourNas.Coordination;

/// <summary>
/// A stage's event (one consumer per <see cref="StageDefinition.Event"/>, all on the <c>experiment-events</c> queue)
/// goes to its experiment's grain, which decides what comes next. When the last stage is done, the report (CSVs,
/// plots, final weights) is written into the experiment's folder and then the experiment is completed; a redelivery
/// after a crash between the two finds the result recorded and finishes the job.
/// </summary>
public sealed class StageEventConsumer<TEvent>(IGrainFactory grains, ArtifactStore store,
    IOptions<PipelineOptions> options, ILogger<StageEventConsumer<TEvent>> logger) : IConsumer<TEvent>
    where TEvent : class, IStageResult
{
    public async Task Consume(ConsumeContext<TEvent> context)
    {
        var grain = grains.GetGrain<IExperimentGrain>(context.Message.ExperimentId);
        if (!await grain.OnStageCompleted(context.Message)) return;
        if (await grain.Get() is not { AwaitsReport: true } state) return;
        // The report shows the experiment as it is once completed, so its experiment.json agrees with the API.
        var endedAt = DateTimeOffset.UtcNow;
        IReadOnlyList<ArtifactRef> report = [];
        if (options.Value.WriteReports)
        {
            try
            {
                report = ExperimentReport.Write(state with { Status = ExperimentStatus.Completed, EndedAt = endedAt },
                        store)
                    .Select(f => new ArtifactRef(Path.GetFileName(f), store.Relative(f))).ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The experiment is complete either way, and every stage's own artifacts are in place.
                logger.LogWarning(e, "Experiment {Id}: report not written", state.Id);
            }
        }
        await grain.Complete(report, endedAt);
    }
}

/// <summary>Progress, retried tries and cancels, on the same queue as the stage events.</summary>
public sealed class StageReportsConsumer(IGrainFactory grains) :
    IConsumer<StageProgressed>, IConsumer<StageFailed>, IConsumer<StageCancelled>
{
    private IExperimentGrain Grain(IStageMessage m) => grains.GetGrain<IExperimentGrain>(m.ExperimentId);

    public Task Consume(ConsumeContext<StageProgressed> context) => Grain(context.Message).OnProgress(context.Message);

    public Task Consume(ConsumeContext<StageFailed> context) => Grain(context.Message).OnStageFailed(context.Message);

    public Task Consume(ConsumeContext<StageCancelled> context) =>
        Grain(context.Message).OnStageCancelled(context.Message);
}

/// <summary>
/// A stage command that exhausted the bus's retries, or whose input was rejected, ends in the error queue and
/// MassTransit publishes its Fault: the one terminal signal of a stage attempt (one consumer per command, all on the
/// <c>stage-fault</c> queue). The grain retries the stage or fails the experiment with the exception's message.
/// </summary>
public sealed class StageFaultConsumer<TCommand>(IGrainFactory grains) : IConsumer<Fault<TCommand>>
    where TCommand : class, IStageMessage
{
    private static readonly string Stage = PipelineStages.OfCommand(typeof(TCommand)).Name;

    public Task Consume(ConsumeContext<Fault<TCommand>> context)
    {
        var fault = context.Message;
        var exception = fault.Exceptions.FirstOrDefault();
        return grains.GetGrain<IExperimentGrain>(fault.Message.ExperimentId).OnStageFaulted(new StageFault(
            Stage, fault.Message.Attempt, exception?.Message ?? "the stage faulted",
            Rejected: exception?.ExceptionType == typeof(StageRejectedException).FullName,
            Worker: fault.Host?.MachineName));
    }
}
