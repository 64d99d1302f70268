using System.Diagnostics;
using HourNas.Workers;

namespace HourNas.Pipeline.Tests;

/// <summary>Two deliveries of one stage never run side by side: the second waits for the first's lease.</summary>
public sealed class StageLeaseTests : IDisposable
{
    // Long enough that a busy machine renews in time (every third of it), short enough for a fast test.
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(2);

    private readonly TempFolder _folder = new();

    private Task<StageLease?> Acquire(string worker, int attempt = 1, Func<bool>? finished = null,
        CancellationToken cancellation = default) =>
        StageLease.Acquire(_folder.Path, worker, attempt, Duration, finished ?? (() => false), cancellation);

    [Fact]
    public async Task A_second_delivery_waits_while_the_first_runs_and_renews_and_goes_on_when_it_ends()
    {
        var first = (await Acquire("w1"))!;
        var second = Acquire("w2");
        // Three lease durations: the first renews, the second keeps waiting.
        await Task.Delay(Duration * 3);
        Assert.False(second.IsCompleted);
        await first.DisposeAsync();
        await using var taken = await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(taken);
    }

    [Fact]
    public async Task A_lease_whose_holder_died_lapses_and_is_taken_over()
    {
        // What a killed worker leaves: a lease nobody renews.
        await File.WriteAllTextAsync(Path.Combine(_folder.Path, StageLease.FileName), System.Text.Json.JsonSerializer
            .Serialize(new StageLease.Holder("dead", "gone", 1, DateTimeOffset.UtcNow + Duration)));
        var clock = Stopwatch.StartNew();
        await using var taken = await Acquire("w2").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(taken);
        Assert.InRange(clock.Elapsed, Duration * 0.8, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_later_attempt_takes_over_at_once_and_the_old_holder_stops_renewing()
    {
        var old = (await Acquire("w1", attempt: 1))!;
        await using var later = await Acquire("w2", attempt: 2).WaitAsync(TimeSpan.FromSeconds(2));
        Assert.NotNull(later);
        await Task.Delay(Duration);
        await old.DisposeAsync();  // must not release the later attempt's lease
        Assert.True(File.Exists(Path.Combine(_folder.Path, StageLease.FileName)));
        using var giveUp = new CancellationTokenSource();
        var third = Acquire("w3", attempt: 2, cancellation: giveUp.Token);
        await Task.Delay(Duration * 2);
        Assert.False(third.IsCompleted);  // the later attempt still holds and renews it
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => third);
    }

    [Fact]
    public async Task A_wait_ends_without_a_lease_when_the_other_delivery_finished_the_stage()
    {
        await using var first = (await Acquire("w1"))!;
        var done = false;
        var second = Acquire("w2", finished: () => done);
        await Task.Delay(Duration);
        done = true;
        Assert.Null(await second.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    public void Dispose() => _folder.Dispose();
}
