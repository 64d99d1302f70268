namespace HourNas.Experiments;

/// <summary>
/// How the coordinator watches experiments: keys of the <c>HourNas</c> configuration section, read by the grains.
/// </summary>
public sealed class CoordinatorPolicy
{
    /// <summary>
    /// The period of each unfinished experiment's reminder (<see cref="IExperimentGrain.Check"/>): it sends a command
    /// that never reached the broker, retries or fails a silent stage, and tells the catalog what a crash kept from
    /// it. Infinite (-00:00:00.001) registers no reminder: only explicit <c>Check</c> calls look (tests).
    /// </summary>
    public TimeSpan RecoveryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a stage a worker started may go without a progress report before the reminder gives up on that
    /// attempt (training stages report every 50 steps and every epoch). Per stage: <see cref="StageSilenceLimits"/>.
    /// </summary>
    public TimeSpan StageSilenceLimit { get; set; } = TimeSpan.FromHours(2);

    /// <summary>
    /// Per-stage silence limits by stage name (e.g. <c>HourNas:StageSilenceLimits:retrain=06:00:00</c>).
    /// </summary>
    public Dictionary<string, TimeSpan> StageSilenceLimits { get; set; } = [];

    /// <summary>
    /// Attempts the coordinator gives a stage: after a fault other than a rejected input (the bus's own retries
    /// spent) or a silent worker, it sends the stage's command again with the next attempt number, until this many
    /// attempts failed. 1 = never retry.
    /// </summary>
    public int StageAttempts { get; set; } = 2;

    /// <summary>
    /// How long a grain waits for the broker to take a command. Past it the grain turn ends with the command recorded
    /// as unsent, and the reminder sends it: a stalled broker does not block the experiment's grain.
    /// </summary>
    public TimeSpan CommandSendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan SilenceLimitOf(string? stage) =>
        stage is not null && StageSilenceLimits.TryGetValue(stage, out var limit) ? limit : StageSilenceLimit;

    public bool RemindersOn => RecoveryInterval != Timeout.InfiniteTimeSpan && RecoveryInterval > TimeSpan.Zero;
}
