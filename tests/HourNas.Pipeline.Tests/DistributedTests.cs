using System.Diagnostics;
using System.Net.Http.Json;
using HourNas.Embedded;
using HourNas.Pipeline;
using HourNas.Coordination;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MassTransit;
using OpenTelemetry.Trace;
using Xunit.Abstractions;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// Distributed mode for real: RabbitMQ and Redis (started by ./test.sh, or infra/local.sh), each stage worker a separate
/// process started from its built service, the coordinator in this process. Connection strings come from the same
/// environment variables the services read: ConnectionStrings__rabbitmq and ConnectionStrings__redis.
/// </summary>
public sealed class DistributedTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Log(string what) => output.WriteLine($"{_clock.Elapsed.TotalSeconds,6:F1} s  {what}");

    private readonly TempFolder _folder = new();
    private readonly List<Process> _workers = [];
    private readonly string _rabbitmq = Environment.GetEnvironmentVariable("ConnectionStrings__rabbitmq")
        ?? throw new InvalidOperationException("ConnectionStrings__rabbitmq is not set: run ./test.sh, which starts RabbitMQ and Redis, or eval \"$(infra/local.sh start)\"");
    private readonly string _redis = Environment.GetEnvironmentVariable("ConnectionStrings__redis")
        ?? throw new InvalidOperationException("ConnectionStrings__redis is not set: run ./test.sh, which starts RabbitMQ and Redis, or eval \"$(infra/local.sh start)\"");
    private readonly string _clusterId = "test-" + Guid.NewGuid().ToString("N")[..8];

    private string Artifacts => _folder["artifacts"];

    private string TraceFile => _folder["spans.jsonl"];

    private static string ServiceDll(string service)
    {
        var dll = Path.Combine(TestEnvironment.RepositoryRoot, "services", service, "bin", TestEnvironment.Configuration, TestEnvironment.Framework, service + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is not built: build the solution first");
    }

    /// <summary>Starts a worker service as its own process and waits until its bus is up (its queues are bound).</summary>
    private async Task<Process> StartWorker(string service, string name)
    {
        var start = new ProcessStartInfo("dotnet", [ServiceDll(service)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["HourNas__Transport"] = "RabbitMQ",
                ["HourNas__Artifacts"] = Artifacts,
                ["HourNas__TraceFile"] = TraceFile,
                ["HourNas__Worker"] = name,
                ["ConnectionStrings__rabbitmq"] = _rabbitmq,
                ["Urls"] = "http://127.0.0.1:0",
                // Five workers share two cores: one libtorch thread each avoids oversubscription.
                ["HOURNAS_THREADS"] = "1",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
            },
        };
        var process = Process.Start(start)!;
        _workers.Add(process);
        var log = new System.Text.StringBuilder();
        var started = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            lock (log) log.AppendLine(e.Data);
            if (e.Data?.Contains("Application started") == true) started.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var finished = await Task.WhenAny(started.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (finished != started.Task) throw new InvalidOperationException($"worker {name} did not start:\n{log}");
        return process;
    }

    private async Task<WebApplication> StartCoordinator(List<Activity> spans)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HourNas:Transport"] = "RabbitMQ",
            ["HourNas:Clustering"] = "Redis",
            ["HourNas:ClusterId"] = _clusterId,
            ["HourNas:SiloPort"] = "0",
            ["HourNas:GatewayPort"] = "0",
            ["HourNas:Artifacts"] = Artifacts,
            ["HourNas:TraceFile"] = TraceFile,
            ["HourNas:Worker"] = "coordinator",
            ["ConnectionStrings:rabbitmq"] = _rabbitmq,
            ["ConnectionStrings:redis"] = _redis,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        // The coordinator's own wiring, as services/HourNas.Coordinator/Program.cs has it, plus an in-memory span exporter.
        builder.AddServiceDefaults().AddExperimentSilo().AddPipelineBus(bus => bus.AddCoordinatorConsumers());
        builder.Services.AddExperimentApi();
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans));
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapExperimentApi();
        await app.StartAsync();
        return app;
    }

    private static async Task<ExperimentState?> Get(WebApplication coordinator, string id) =>
        await coordinator.Services.GetRequiredService<ExperimentService>().Get(id);

    [Fact]
    public async Task Experiments_survive_a_killed_training_worker_and_a_restarted_coordinator_in_one_trace_each()
    {
        var timeout = TimeSpan.FromMinutes(4);
        await Task.WhenAll(
            StartWorker("HourNas.VitalBlocks", "vital-blocks"),
            StartWorker("HourNas.SpaceShrinking", "shrinking"),
            StartWorker("HourNas.Retraining", "retraining-1"),
            StartWorker("HourNas.Retraining", "retraining-2"));
        var supernet = await StartWorker("HourNas.SupernetTraining", "supernet-1");
        var spans = new List<Activity>();
        var coordinator = await StartCoordinator(spans);
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var (a, b) = ($"dist-a-{suffix}", $"dist-b-{suffix}");
        using var http = new HttpClient { BaseAddress = new Uri(coordinator.Urls.Single()) };
        // A trains stage 1 long enough to be killed in it.
        var specA = Specs.Smoke with { SearchEpochs = 3, TrainLimit = 6000 };
        (await http.PostAsJsonAsync("experiments", new SubmitExperiment(a, specA), PipelineJson.Options)).EnsureSuccessStatusCode();
        // Bad input over the real broker: its command is rejected into the error queue, not lost, and the experiment says why.
        var rejectedBefore = await MessagesIn("analyze-vital-blocks_error");
        var bad = $"dist-bad-{suffix}";
        (await http.PostAsJsonAsync("experiments", new SubmitExperiment(bad, Specs.Smoke with { BudgetMFlops = 0.05 }), PipelineJson.Options)).EnsureSuccessStatusCode();
        Log("workers and coordinator up, A and a bad experiment submitted");
        var failed = await Waits.Until(() => Get(coordinator, bad), s => s.IsFinished, timeout, "the bad experiment failing");
        Assert.Equal(ExperimentStatus.Failed, failed.Status);
        Assert.Contains("impossible budget", failed.FailureReason);
        // The experiment hears of the failure (StageFailed) just before the broker moves the command: allow a moment.
        await Waits.Until(async () => await MessagesIn("analyze-vital-blocks_error") != rejectedBefore, TimeSpan.FromSeconds(5), "the rejected command reaching the error queue");
        Assert.Equal(rejectedBefore + 1, await MessagesIn("analyze-vital-blocks_error"));

        // Kill the training worker once A's stage 1 has checkpointed an epoch; a new worker takes the redelivered command.
        await Waits.Until(() => Get(coordinator, a), s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Epoch),
            timeout, "an epoch of A's stage 1");
        supernet.Kill(entireProcessTree: true);
        await supernet.WaitForExitAsync();
        Log("supernet-1 killed in A's stage 1");
        await StartWorker("HourNas.SupernetTraining", "supernet-2");
        Log("supernet-2 up");
        (await http.PostAsJsonAsync("experiments", new SubmitExperiment(b, Specs.Smoke), PipelineJson.Options)).EnsureSuccessStatusCode();

        // Restart the coordinator once A is past stage 1: the experiments live on in Redis, the events wait in RabbitMQ.
        await Waits.Until(() => Get(coordinator, a), s => s.Stage(PipelineStages.VitalSearch)?.Status == StageStatus.Completed, timeout, "A's stage 1 completing");
        await coordinator.StopAsync();
        await coordinator.DisposeAsync();
        Log("coordinator stopped");
        var restarted = await StartCoordinator([]);
        Log("coordinator restarted");
        try
        {
            var doneA = await Waits.Until(() => Get(restarted, a), s => s.IsFinished, timeout, "A finishing");
            var doneB = await Waits.Until(() => Get(restarted, b), s => s.IsFinished, timeout, "B finishing");
            Log("A and B finished");
            foreach (var s in doneA.Stages.Concat(doneB.Stages)) Log($"  {s.Stage} {s.StartedAt:HH:mm:ss.f}-{s.EndedAt:HH:mm:ss.f} on {string.Join(',', s.Workers)}");
            Assert.True(doneA.Status == ExperimentStatus.Completed, Waits.Describe(doneA));
            Assert.True(doneB.Status == ExperimentStatus.Completed, Waits.Describe(doneB));

            // The killed stage ran twice, on two workers, and the second run resumed from the checkpoint.
            var stage1 = doneA.Stage(PipelineStages.VitalSearch)!;
            Assert.Equal(2, stage1.Starts);
            Assert.InRange(stage1.ResumedFromEpoch, 1, 4);
            Assert.Equal(["supernet-1", "supernet-2"], stage1.Workers.Order());
            Assert.Contains(doneA.Progress, p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Started && p.Epoch >= 1);
            Assert.InRange(doneA.Result!.Top1, 0.3, 1.0);

            // Nothing lost in the restart: the restarted coordinator lists both.
            var listed = await restarted.Services.GetRequiredService<ExperimentService>().List();
            Assert.Contains(listed, e => e.Id == a && e.Status == ExperimentStatus.Completed);
            Assert.Contains(listed, e => e.Id == b && e.Status == ExperimentStatus.Completed);

            // Two retraining workers share one queue: two retrain commands queued together run at once, one on each worker.
            var bus = restarted.Services.GetRequiredService<IBus>();
            string[] shared = [$"share-1-{suffix}", $"share-2-{suffix}"];
            var quick = doneA.Spec! with { TrainLimit = 2000, RetrainEpochs = 1, Ablate = false };
            foreach (var id in shared)
                await bus.Publish(new RetrainArchitecture { ExperimentId = id, Spec = quick, Genotype = doneA.Genotype! });
            var retrains = await WaitForSpans(shared, PipelineStages.Retrain, TimeSpan.FromMinutes(2));
            Log("two shared retrains finished");
            Assert.Equal(["retraining-1", "retraining-2"], retrains.Select(r => r.Tags["hournas.worker"]).Order());
            var (r1, r2) = (retrains[0], retrains[1]);
            Assert.True(r1.Start < r2.Start.AddMilliseconds(r2.DurationMs) && r2.Start < r1.Start.AddMilliseconds(r1.DurationMs), "the two retrains did not overlap");

            // One trace per experiment: the root span (in-memory exporter, this process) and every stage span the worker
            // processes wrote share one trace id.
            foreach (var id in new[] { a, b })
            {
                var root = Assert.Single(spans, s => s.DisplayName == $"experiment {id}");
                var stageSpans = SpanRecord.ReadAll(TraceFile)
                    .Where(s => s.Tags.GetValueOrDefault("hournas.experiment") == id && PipelineStages.All.Contains(s.Name)).ToArray();
                Assert.Equal(PipelineStages.All.Order(), stageSpans.Select(s => s.Name).Distinct().Order());
                Assert.All(stageSpans, s => Assert.Equal(root.TraceId.ToHexString(), s.TraceId));
                Assert.DoesNotContain(stageSpans, s => s.ProcessId == Environment.ProcessId);
                Assert.True(stageSpans.Select(s => s.ProcessId).Distinct().Count() >= 4);
            }

            // A SupernetTraining worker trains one supernet at a time: A's stage 2 and B's stage 1 share its one queue.
            var supernetSpans = SpanRecord.ReadAll(TraceFile).Where(s => s.Name is PipelineStages.VitalSearch or PipelineStages.NonVitalSearch).ToArray();
            Assert.True(supernetSpans.Count(s => s.Tags["hournas.worker"] == "supernet-2") >= 4, "supernet-2 ran both stages of A and B");
            foreach (var worker in supernetSpans.GroupBy(s => s.Tags["hournas.worker"]))
            {
                var ordered = worker.OrderBy(s => s.Start).ToArray();
                for (var i = 1; i < ordered.Length; i++)
                    Assert.True(ordered[i].Start >= ordered[i - 1].Start.AddMilliseconds(ordered[i - 1].DurationMs),
                        $"{worker.Key} ran {ordered[i].Name} of {ordered[i].Tags["hournas.experiment"]} during {ordered[i - 1].Name} of {ordered[i - 1].Tags["hournas.experiment"]}");
            }
        }
        finally
        {
            await restarted.StopAsync();
            await restarted.DisposeAsync();
        }
    }

    /// <summary>How many messages wait in a RabbitMQ queue (0 when it does not exist yet).</summary>
    private async Task<uint> MessagesIn(string queue)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(_rabbitmq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;  // 404: no such queue yet
        }
    }

    /// <summary>The finished span of the stage for each experiment, from the shared trace file.</summary>
    private async Task<SpanRecord[]> WaitForSpans(string[] experiments, string stage, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var found = SpanRecord.ReadAll(TraceFile).Where(s => s.Name == stage && experiments.Contains(s.Tags.GetValueOrDefault("hournas.experiment"))).ToArray();
            if (found.Length == experiments.Length) return found;
            if (clock.Elapsed > timeout) throw new TimeoutException($"{stage} spans of {string.Join(", ", experiments)}: {found.Length} finished in {timeout}");
            await Task.Delay(300);
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            if (!worker.HasExited) worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
            worker.Dispose();
        }
        _folder.Dispose();
    }
}
