namespace HourNas.Experiments;

/// <summary>The lifecycle events an experiment announces (webhooks carry them as CloudEvent types).</summary>
public static class LifecycleEvents
{
    public const string Submitted = "submitted";
    public const string StageCompleted = "stage.completed";
    public const string StageFailed = "stage.failed";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All =
        [Submitted, StageCompleted, StageFailed, Completed, Failed, Cancelled];
}

/// <summary>
/// One lifecycle event of one experiment. <see cref="Id"/> is stable: the same transition applied again (a
/// redelivered stage event after a failed state write) has the same id, so a subscriber can drop the copy.
/// </summary>
public sealed record LifecycleEvent(
    string Id, string Type, string ExperimentId, DateTimeOffset At, ExperimentStatus Status, string? Stage,
    int? Attempt, string? Reason, double? Top1, string? Genotype)
{
    public static LifecycleEvent Of(ExperimentState s, string type, StageRecord? stage, string? reason)
    {
        var key = stage is null ? $"{s.Id}/{type}" : $"{s.Id}/{type}/{stage.Stage}/{stage.Attempt}";
        var id = Convert.ToHexStringLower(
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..32];
        return new LifecycleEvent(id, type, s.Id, DateTimeOffset.UtcNow, s.Status, stage?.Stage, stage?.Attempt,
            reason, s.Result?.Top1, s.Genotype);
    }
}

/// <summary>
/// The grain's second way out: told each lifecycle event once its state is stored. The coordinator's
/// implementation is the webhook outbox; none need be registered (grain tests).
/// </summary>
public interface IExperimentEvents
{
    /// <summary>Takes the event (quickly: the grain waits). Throwing does not undo the transition.</summary>
    void Announce(LifecycleEvent e);
}
