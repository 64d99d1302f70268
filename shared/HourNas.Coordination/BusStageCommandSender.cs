using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Experiments;
using MassTransit;

namespace HourNas.Coordination;

/// <summary>The grains' sender port on the bus.</summary>
public sealed class BusStageCommandSender(IBus bus) : IStageCommandSender
{
    public static readonly ActivitySource Source = new("HourNas.Coordinator");

    public async Task Send(IStageMessage command, string? traceParent, TimeSpan timeout)
    {
        var stage = PipelineStages.OfCommand(command.GetType()).Name;
        // Parent the command on the experiment's root span, so every stage joins the one trace of the experiment
        // whatever the grain call itself carried.
        ActivityContext.TryParse(traceParent, null, out var root);
        using var activity = Source.StartActivity($"start {stage}", ActivityKind.Producer, root);
        activity?.SetTag("hournas.experiment", command.ExperimentId);
        activity?.SetTag("hournas.stage", stage);
        activity?.SetTag("hournas.attempt", command.Attempt);
        using var cancel = new CancellationTokenSource(timeout);
        await bus.Publish(command, command.GetType(), cancel.Token);
    }

    public async Task Cancel(CancelExperiment cancel, TimeSpan timeout)
    {
        using var token = new CancellationTokenSource(timeout);
        await bus.Publish(cancel, token.Token);
    }
}
