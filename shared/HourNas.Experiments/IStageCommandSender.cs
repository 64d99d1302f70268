using HourNas.Contracts;

namespace HourNas.Experiments;

/// <summary>
/// The grain's only way out: it decides what to send and records it (an unsent command stays marked in its state,
/// like an outbox), and this port publishes. The coordinator's implementation is the bus; grain tests record.
/// </summary>
public interface IStageCommandSender
{
    /// <summary>
    /// Publishes a stage command, parented on the experiment's root span (<paramref name="traceParent"/>). Throws
    /// when the broker did not take it within <paramref name="timeout"/>.
    /// </summary>
    Task Send(IStageMessage command, string? traceParent, TimeSpan timeout);

    /// <summary>Tells every worker to stop the experiment's running attempt(s).</summary>
    Task Cancel(CancelExperiment cancel, TimeSpan timeout);
}
