using System.Collections.Concurrent;
using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Experiments.Tests;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Xunit.Abstractions;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// A redis-server of the test's own on a free loopback port, persisting to an append-only file in its folder, so a
/// stop and a start keep the experiments.
/// </summary>
public sealed class RedisServer(string folder) : IDisposable
{
    private Process? _process;

    public int Port { get; } = LoopbackPorts.PickFree(1).Single();

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Starts redis-server and returns once it logs that it accepts connections (its own signal).</summary>
    public async Task Start()
    {
        _process = Process.Start(new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                "--appendfsync", "always", "--dir", folder },
            RedirectStandardOutput = true,
        })!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.Contains("Ready to accept connections", StringComparison.Ordinal)) continue;
            // Keep reading its log, so a full pipe never blocks it.
            _ = _process.StandardOutput.ReadToEndAsync();
            return;
        }
        Assert.Fail("redis-server exited before accepting connections");
    }

    public void Stop()
    {
        if (_process is null) return;
        _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
        _process = null;
    }

    public void Dispose() => Stop();
}

/// <summary>
/// The experiment store away while an experiment trains: the events of those seconds wait for it (bounded
/// redelivery) instead of going to an error queue, and the experiment completes with every epoch recorded once.
/// </summary>
public sealed class EventsDuringAStorageOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TempFolder _folder = new();
    private RefusingStorage _storage = null!;
    private readonly GaveUp _gaveUp = new();
    private IHost _host = null!;

    /// <summary>Messages whose consumer failed for good (the bus then moves them to the error queue).</summary>
    private sealed class GaveUp : IConsumeObserver
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class
        {
            Messages.Enqueue($"{typeof(T).Name}: {exception.Message}");
            return Task.CompletedTask;
        }
    }

    private void Mark(string what) => output.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: {what}");

    public async Task InitializeAsync()
    {
        var builder = PipelineRegistration.EmbeddedPipeline(_folder.Path, new Dictionary<string, string?>
        {
            // The reminder sends a next stage's command whose state write the outage broke.
            ["HourNas:RecoveryInterval"] = "00:00:02",
        });
        // Replaces the silo's in-memory store (the last keyed registration wins).
        builder.Services.AddKeyedSingleton<IGrainStorage>(ExperimentGrain.Storage,
            (services, _) => _storage = new RefusingStorage(services.GetRequiredService<DeepCopier>()));
        _host = builder.Build();
        _host.Services.GetRequiredService<IBus>().ConnectConsumeObserver(_gaveUp);
        await _host.StartAsync();
        _ = _host.Services.GetRequiredKeyedService<IGrainStorage>(ExperimentGrain.Storage);
    }

    [Fact]
    public async Task Progress_and_results_wait_out_the_outage_and_the_experiment_completes_with_each_epoch_once()
    {
        var experiments = _host.Services.GetRequiredService<ExperimentService>();
        var spec = Specs.Smoke with { SearchEpochs = 3 };
        await experiments.Submit("outage", spec);
        await Waits.Until(() => experiments.Get("outage"),
            s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Epoch),
            TimeSpan.FromMinutes(2), "an epoch of stage 1");
        _storage.Down = true;
        Mark("stage 1 trained an epoch; the store refuses writes");
        // Longer than the bus's own tries wait (1 s growing: about 11 s), far shorter than the coordinator's.
        await Task.Delay(TimeSpan.FromSeconds(20));
        _storage.Down = false;
        Mark($"the store is back after refusing {_storage.Refused} writes");
        Assert.True(_storage.Refused > 0, "the outage refused no write: it came too late to test anything");

        var done = await Waits.Until(() => experiments.Get("outage"), s => s.IsFinished, TimeSpan.FromMinutes(3),
            "the experiment finishing after the outage");
        Mark($"finished: {Waits.Describe(done)}");
        Assert.True(done.Status == ExperimentStatus.Completed, Waits.Describe(done));
        // A report retried across the outage may land after the experiment's end (the bus's backoff grows to 30 s):
        // wait for the history to be whole, then check that it holds each epoch once.
        string[] searches = [PipelineStages.VitalSearch, PipelineStages.NonVitalSearch];
        done = await Waits.Until(() => experiments.Get("outage"), s => searches.All(stage =>
                s.Progress.Count(p => p.Stage == stage && p.Phase == ProgressPhases.Epoch) >= spec.SearchEpochs),
            TimeSpan.FromMinutes(3), "every epoch report of the searches arriving");
        foreach (var stage in searches)
            Assert.Equal(Enumerable.Range(1, spec.SearchEpochs!.Value),
                done.Progress.Where(p => p.Stage == stage && p.Phase == ProgressPhases.Epoch).Select(p => p.Epoch)
                    .Order());
        Assert.All(done.Stages, s => Assert.Equal(1, s.Attempt));
        // Nothing went to an error queue.
        Assert.Empty(_gaveUp.Messages);
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        _folder.Dispose();
    }
}
