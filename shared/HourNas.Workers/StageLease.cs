using System.Text.Json;

namespace HourNas.Workers;

/// <summary>
/// One running delivery per stage: a lease file in the stage's folder (<c>lease.json</c>, on the artifact volume every
/// worker shares), held by the worker that runs the stage and renewed while it runs. A second delivery of the same
/// stage (the coordinator sent a command again after a crash, and the first is still running elsewhere) waits until
/// the lease is released or lapses (its holder died) instead of training beside it in the same folder. A lease
/// names the attempt: a later attempt of the coordinator takes over at once (it gave the old one up).
/// </summary>
public sealed class StageLease : IAsyncDisposable
{
    public const string FileName = "lease.json";

    private readonly string _file;
    private readonly Holder _holder;
    private readonly TimeSpan _duration;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;

    private StageLease(string file, Holder holder, TimeSpan duration)
    {
        (_file, _holder, _duration) = (file, holder, duration);
        _renewal = Task.Run(Renew);
    }

    /// <summary>Who holds a lease, for which attempt, until when.</summary>
    public sealed record Holder(string Worker, string Delivery, int Attempt, DateTimeOffset Until);

    /// <summary>
    /// Takes the stage's lease for this delivery, waiting while another live delivery of the same or a later attempt
    /// holds it. <paramref name="finished"/> is asked while waiting: true (the other delivery finished the stage)
    /// returns null, and the caller republishes that result instead of running the stage.
    /// </summary>
    public static async Task<StageLease?> Acquire(string folder, string worker, int attempt, TimeSpan duration,
        Func<bool> finished, CancellationToken cancellation)
    {
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, FileName);
        var delivery = Guid.NewGuid().ToString("N");
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            if (finished()) return null;
            var current = Read(file);
            if (current is null || current.Until < DateTimeOffset.UtcNow || current.Attempt < attempt)
            {
                var mine = new Holder(worker, delivery, attempt, DateTimeOffset.UtcNow + duration);
                Write(file, mine);
                // Two deliveries may both have found the lease free: the last write wins, the other waits.
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellation);
                if (Read(file)?.Delivery == delivery) return new StageLease(file, mine, duration);
            }
            await Task.Delay(PollInterval(duration), cancellation);
        }
    }

    private static TimeSpan PollInterval(TimeSpan duration) =>
        TimeSpan.FromMilliseconds(Math.Clamp(duration.TotalMilliseconds / 10, 200, 5000));

    private async Task Renew()
    {
        using var timer = new PeriodicTimer(_duration / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    // Renew only a lease still ours: a later attempt may have taken it over.
                    if (Read(_file)?.Delivery == _holder.Delivery)
                        Write(_file, _holder with { Until = DateTimeOffset.UtcNow + _duration });
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The artifact volume hiccupped: the next tick tries again while the lease has not lapsed.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static Holder? Read(string file)
    {
        try
        {
            return File.Exists(file) ? JsonSerializer.Deserialize<Holder>(File.ReadAllText(file)) : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;  // half written by another worker: as good as free, and the check after writing settles it
        }
    }

    private static void Write(string file, Holder holder)
    {
        var temporary = $"{file}.{holder.Delivery}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(holder));
        File.Move(temporary, file, overwrite: true);
    }

    /// <summary>Stops renewing and releases the lease if it is still this delivery's.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewal;
        _stop.Dispose();
        try
        {
            if (Read(_file)?.Delivery == _holder.Delivery) File.Delete(_file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind, it lapses by itself.
        }
    }
}
