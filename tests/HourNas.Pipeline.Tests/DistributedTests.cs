using System.Diagnostics;
using System.Net.Http.Json;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Xunit.Abstractions;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// Distributed mode for real: RabbitMQ and Redis (started by ./test.sh, or infra/local.sh), each stage worker a
/// separate process started from its built service, the coordinator in this process. Connection strings come from
/// the same environment variables the services read: ConnectionStrings__rabbitmq and ConnectionStrings__redis. One
/// run: a bad experiment, experiment A whose training worker is killed in stage 1, B, a coordinator restart, two
/// retrains on two workers; each fact of <see cref="DistributedTests"/> checks one behaviour of it, and a step that
/// did not happen fails only the facts that need it.
/// </summary>
public sealed class DistributedScenario : IAsyncLifetime
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _log = [];
    private readonly Dictionary<string, Exception> _errors = [];

    /// <summary>What happened when, for a failing fact's output.</summary>
    public IReadOnlyList<string> Log => _log;

    private void Note(string what)
    {
        lock (_log) _log.Add($"{_clock.Elapsed.TotalSeconds,6:F1} s  {what}");
    }

    private readonly TempFolder _folder = new();
    private readonly List<Process> _workers = [];
    private readonly string _rabbitmq = Environment.GetEnvironmentVariable("ConnectionStrings__rabbitmq")
        ?? throw new InvalidOperationException(
            "ConnectionStrings__rabbitmq is not set: run ./test.sh, which starts RabbitMQ and Redis, " +
            "or eval \"$(infra/local.sh start)\"");
    private readonly string _redis = Environment.GetEnvironmentVariable("ConnectionStrings__redis")
        ?? throw new InvalidOperationException(
            "ConnectionStrings__redis is not set: run ./test.sh, which starts RabbitMQ and Redis, " +
            "or eval \"$(infra/local.sh start)\"");
    private readonly string _clusterId = "test-" + Guid.NewGuid().ToString("N")[..8];

    private string Artifacts => _folder["artifacts"];

    private string TraceFile => _folder["spans.jsonl"];

    private static string ServiceDll(string service)
    {
        var dll = Path.Combine(
            TestEnvironment.RepositoryRoot, "services", service, "bin", TestEnvironment.Configuration,
            TestEnvironment.Framework, service + ".dll");
        return File.Exists(dll)
            ? dll
            : throw new FileNotFoundException($"{dll} is not built: build the solution first");
    }

    /// <summary>
    /// Starts a worker service as its own process and waits until its bus is up (its queues are bound).
    /// </summary>
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
        string? address = null;
        process.OutputDataReceived += (_, e) =>
        {
            lock (log) log.AppendLine(e.Data);
            if (e.Data?.IndexOf("Now listening on: ", StringComparison.Ordinal) is >= 0 and var at)
                address = e.Data[(at + "Now listening on: ".Length)..].Trim();
            if (e.Data?.Contains("Application started") == true) started.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var finished = await Task.WhenAny(
            started.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (finished != started.Task) throw new InvalidOperationException($"worker {name} did not start:\n{log}");
        if (address is not null) ScrapeWithPrometheus(address);
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
        // The coordinator's own wiring, as services/HourNas.Coordinator/Program.cs has it, plus an in-memory span
        // exporter.
        builder.AddServiceDefaults().AddExperimentSilo().AddPipelineBus(bus => bus.AddCoordinatorConsumers());
        builder.Services.AddExperimentApi();
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans));
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapExperimentApi();
        await app.StartAsync();
        ScrapeWithPrometheus(app.Urls.Single());
        return app;
    }

    private static async Task<ExperimentState?> Get(WebApplication coordinator, string id) =>
        await coordinator.Services.GetRequiredService<ExperimentService>().Get(id);

    public ExperimentState Bad => Step("bad", () => _bad);

    /// <summary>Messages in analyze-vital-blocks_error before and after the bad experiment.</summary>
    public (uint Before, uint After) Rejected => Step("bad", () => _rejected);

    /// <summary>
    /// The coordinator's /health answer and its error-queue counts once the bad command was rejected.
    /// </summary>
    public (string Health, IReadOnlyDictionary<string, uint> ErrorQueues) AfterRejection =>
        Step("bad", () => (_health, (IReadOnlyDictionary<string, uint>)_errorQueues));

    public ExperimentState A => Step("a", () => _a);

    public ExperimentState B => Step("b", () => _b);

    public IReadOnlyList<ExperimentSummary> Listed => Step("a", () => _listed);

    public SpanRecord[] SharedRetrains => Step("retrains", () => _retrains);

    /// <summary>
    /// The coordinator's root spans (this process) and every span the processes wrote to the trace file.
    /// </summary>
    public (IReadOnlyList<Activity> Roots, IReadOnlyList<SpanRecord> Written) Spans => Step("a", () => (
        (IReadOnlyList<Activity>)_spans, (IReadOnlyList<SpanRecord>)SpanRecord.ReadAll(TraceFile)));

    public string IdA { get; } = "dist-a-" + Guid.NewGuid().ToString("N")[..6];

    public string IdB { get; } = "dist-b-" + Guid.NewGuid().ToString("N")[..6];

    private ExperimentState _bad = null!, _a = null!, _b = null!;
    private (uint, uint) _rejected;
    private string _health = "";
    private Dictionary<string, uint> _errorQueues = [];
    private IReadOnlyList<ExperimentSummary> _listed = [];
    private SpanRecord[] _retrains = [];
    private readonly List<Activity> _spans = [];
    private PrometheusServer? _prometheus;
    private IReadOnlyList<MetricSample> _durations = [], _completed = [], _consumers = [];

    /// <summary>
    /// What a real Prometheus scraping every service answered once B had finished: B's stage durations
    /// (<c>hournas_stage_duration_seconds_count</c>), the coordinator's completed experiments and the consumers on
    /// each work queue.
    /// </summary>
    public (IReadOnlyList<MetricSample> Durations, IReadOnlyList<MetricSample> Completed,
        IReadOnlyList<MetricSample> Consumers) Scraped =>
        Step("prometheus", () => (_durations, _completed, _consumers));

    private T Step<T>(string step, Func<T> value) => _errors.TryGetValue(step, out var e)
        ? throw new InvalidOperationException($"the scenario's step '{step}' did not happen: {e.Message}", e)
        : value();

    private async Task<bool> Run(string step, Func<Task> action)
    {
        try
        {
            await action();
            return true;
        }
        catch (Exception e)
        {
            _errors[step] = e;
            Note($"step {step} failed: {e.Message}");
            return false;
        }
    }

    public async Task InitializeAsync()
    {
        var timeout = TimeSpan.FromMinutes(4);
        await Run("prometheus", async () => _prometheus = await PrometheusServer.Start());
        await Task.WhenAll(
            StartWorker("HourNas.VitalBlocks", "vital-blocks"),
            StartWorker("HourNas.SpaceShrinking", "shrinking"),
            StartWorker("HourNas.Retraining", "retraining-1"),
            StartWorker("HourNas.Retraining", "retraining-2"));
        var supernet = await StartWorker("HourNas.SupernetTraining", "supernet-1");
        var coordinator = await StartCoordinator(_spans);
        using var http = new HttpClient { BaseAddress = new Uri(coordinator.Urls.Single()) };
        // A trains stage 1 long enough to be killed in it.
        var specA = Specs.Smoke with { SearchEpochs = 3, TrainLimit = 6000 };
        (await http.PostAsJsonAsync("experiments", new SubmitExperiment(IdA, specA), PipelineJson.Options))
            .EnsureSuccessStatusCode();
        Note("workers and coordinator up, A submitted");

        // Bad input over the real broker: its command is rejected into the error queue, not lost.
        await Run("bad", async () =>
        {
            var before = await MessagesIn("analyze-vital-blocks_error");
            var bad = "dist-bad-" + IdA[^6..];
            (await http.PostAsJsonAsync(
                "experiments",
                new SubmitExperiment(bad, Specs.Smoke with { BudgetMFlops = 0.05 }),
                PipelineJson.Options)).EnsureSuccessStatusCode();
            _bad = await Waits.Until(
                () => Get(coordinator, bad), s => s.IsFinished, timeout, "the bad experiment failing");
            // The Fault that fails the experiment is published as the broker moves the command: allow a moment.
            await Waits.Until(async () => await MessagesIn("analyze-vital-blocks_error") != before,
                TimeSpan.FromSeconds(5), "the rejected command reaching the error queue");
            _rejected = (before, await MessagesIn("analyze-vital-blocks_error"));
            _health = await (await http.GetAsync("health")).Content.ReadAsStringAsync();
            _errorQueues = (await http.GetFromJsonAsync<Dictionary<string, uint>>("queues/errors"))!;
        });

        WebApplication? restarted = null;
        var survived = await Run("a", async () =>
        {
            // Kill the training worker once A's stage 1 has checkpointed an epoch; a new worker takes the redelivery.
            await Waits.Until(() => Get(coordinator, IdA),
                s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Epoch),
                timeout, "an epoch of A's stage 1");
            supernet.Kill(entireProcessTree: true);
            await supernet.WaitForExitAsync();
            Note("supernet-1 killed in A's stage 1");
            await StartWorker("HourNas.SupernetTraining", "supernet-2");
            Note("supernet-2 up");
            (await http.PostAsJsonAsync("experiments", new SubmitExperiment(IdB, Specs.Smoke), PipelineJson.Options))
                .EnsureSuccessStatusCode();

            // Restart the coordinator once A is past stage 1: the experiments live on in Redis, the events in RabbitMQ.
            await Waits.Until(() => Get(coordinator, IdA),
                s => s.Stage(PipelineStages.VitalSearch)?.Status == StageStatus.Completed,
                timeout, "A's stage 1 completing");
            await coordinator.StopAsync();
            await coordinator.DisposeAsync();
            Note("coordinator stopped");
            restarted = await StartCoordinator([]);
            Note("coordinator restarted");
            _a = await Waits.Until(() => Get(restarted, IdA), s => s.IsFinished, timeout, "A finishing");
            _listed = await restarted.Services.GetRequiredService<ExperimentService>().List();
        });
        if (survived)
        {
            await Run("b", async () =>
            {
                _b = await Waits.Until(() => Get(restarted!, IdB), s => s.IsFinished, timeout, "B finishing");
                _listed = await restarted!.Services.GetRequiredService<ExperimentService>().List();
            });
            if (!_errors.ContainsKey("prometheus") && _prometheus is not null)
                await Run("prometheus", () => QueryPrometheus(_prometheus));
            foreach (var s in _a.Stages.Concat(_b?.Stages ?? []))
                Note($"  {s.Stage} {s.StartedAt:HH:mm:ss.f}-{s.EndedAt:HH:mm:ss.f} on {string.Join(',', s.Workers)}");

            // Two retraining workers share one queue: two retrain commands queued together run at once.
            await Run("retrains", async () =>
            {
                var bus = restarted!.Services.GetRequiredService<IBus>();
                string[] shared = [$"share-1-{IdA[^6..]}", $"share-2-{IdA[^6..]}"];
                var quick = _a.Spec! with { TrainLimit = 2000, RetrainEpochs = 1, Ablate = false };
                foreach (var id in shared)
                    await bus.Publish(
                        new RetrainArchitecture { ExperimentId = id, Spec = quick, Genotype = _a.Genotype! });
                _retrains = await WaitForSpans(shared, PipelineStages.Retrain, TimeSpan.FromMinutes(2));
                Note("two shared retrains finished");
            });
        }
        else
        {
            _errors["b"] = _errors["retrains"] = _errors["a"];
            _errors.TryAdd("prometheus", _errors["a"]);
        }
        if (restarted is not null)
        {
            await restarted.StopAsync();
            await restarted.DisposeAsync();
        }
        else if (!survived)
        {
            await coordinator.DisposeAsync();
        }
    }

    /// <summary>Tells Prometheus of a service; a failure there fails only the Prometheus fact.</summary>
    private void ScrapeWithPrometheus(string address)
    {
        if (_prometheus is null) return;
        try
        {
            _prometheus.Scrape(address);
        }
        catch (Exception e)
        {
            lock (_errors) _errors.TryAdd("prometheus", e);
        }
    }

    /// <summary>Waits until Prometheus has scraped B's last stage, then reads what the facts check.</summary>
    private async Task QueryPrometheus(PrometheusServer prometheus)
    {
        var durations = $"hournas_stage_duration_seconds_count{{hournas_experiment=\"{IdB}\"}}";
        try
        {
            await Waits.Until(async () => (await prometheus.Query(durations)).Count == PipelineStages.All.Count,
                TimeSpan.FromSeconds(30), "Prometheus scraping all of B's stage durations");
        }
        catch (TimeoutException e)
        {
            var targets = await prometheus.Targets();
            throw new TimeoutException(e.Message + "; targets: " +
                string.Join(", ", targets.Select(t => $"{t.Instance} {t.Health} {t.Error}")), e);
        }
        _durations = await prometheus.Query(durations);
        await Waits.Until(async () => (await prometheus.Query("hournas_experiments{status=\"Completed\"} >= 2"))
            .Count == 1, CoordinatorMetrics.Interval * 4, "the coordinator counting A and B as completed");
        _completed = await prometheus.Query("hournas_experiments{status=\"Completed\"}");
        _consumers = await prometheus.Query("hournas_queue_consumers");
        Note("Prometheus scraped B's stage durations");
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
            var found = SpanRecord.ReadAll(TraceFile)
                .Where(s => s.Name == stage && experiments.Contains(s.Tags.GetValueOrDefault("hournas.experiment")))
                .ToArray();
            if (found.Length == experiments.Length) return found;
            if (clock.Elapsed > timeout)
                throw new TimeoutException(
                    $"{stage} spans of {string.Join(", ", experiments)}: {found.Length} finished in {timeout}");
            await Task.Delay(300);
        }
    }

    public async Task DisposeAsync()
    {
        if (_prometheus is not null) await _prometheus.DisposeAsync();
        foreach (var worker in _workers)
        {
            if (!worker.HasExited) worker.Kill(entireProcessTree: true);
            await worker.WaitForExitAsync();
            worker.Dispose();
        }
        _folder.Dispose();
    }
}

/// <summary>The behaviours of one distributed run (<see cref="DistributedScenario"/>), one per fact.</summary>
public sealed class DistributedTests(DistributedScenario scenario, ITestOutputHelper output)
    : IClassFixture<DistributedScenario>
{
    private void ShowLog()
    {
        foreach (var line in scenario.Log) output.WriteLine(line);
    }

    [Fact]
    public void A_rejected_input_fails_its_experiment_and_its_command_lands_in_the_error_queue()
    {
        ShowLog();
        Assert.Equal(ExperimentStatus.Failed, scenario.Bad.Status);
        Assert.Contains("impossible budget", scenario.Bad.FailureReason);
        Assert.Equal(scenario.Rejected.Before + 1, scenario.Rejected.After);
        // The coordinator says so: Degraded, and the count per error queue.
        Assert.Equal("Degraded", scenario.AfterRejection.Health);
        Assert.Equal(scenario.Rejected.After, scenario.AfterRejection.ErrorQueues["analyze-vital-blocks_error"]);
        Assert.Equal(ErrorQueues.Names.Order(), scenario.AfterRejection.ErrorQueues.Keys.Order());
    }

    [Fact]
    public void A_stage_whose_worker_was_killed_resumes_on_another_worker_from_its_checkpoint()
    {
        ShowLog();
        var a = scenario.A;
        Assert.True(a.Status == ExperimentStatus.Completed, Waits.Describe(a));
        var stage1 = a.Stage(PipelineStages.VitalSearch)!;
        Assert.Equal(2, stage1.Starts);
        Assert.InRange(stage1.ResumedFromEpoch, 1, a.Spec!.SearchEpochs!.Value);
        Assert.Equal(["supernet-1", "supernet-2"], stage1.Workers.Order());
        Assert.Contains(a.Progress, p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Started
            && p.Epoch >= 1);
        Assert.InRange(a.Result!.Top1, 0.3, 1.0);
    }

    [Fact]
    public void Experiments_survive_a_coordinator_restart()
    {
        ShowLog();
        Assert.True(scenario.B.Status == ExperimentStatus.Completed, Waits.Describe(scenario.B));
        Assert.Contains(scenario.Listed, e => e.Id == scenario.IdA && e.Status == ExperimentStatus.Completed);
        Assert.Contains(scenario.Listed, e => e.Id == scenario.IdB && e.Status == ExperimentStatus.Completed);
    }

    [Fact]
    public void Two_retraining_workers_on_one_queue_run_two_commands_at_once()
    {
        ShowLog();
        var retrains = scenario.SharedRetrains;
        Assert.Equal(["retraining-1", "retraining-2"], retrains.Select(r => r.Tags["hournas.worker"]).Order());
        var (r1, r2) = (retrains[0], retrains[1]);
        Assert.True(
            r1.Start < r2.Start.AddMilliseconds(r2.DurationMs) && r2.Start < r1.Start.AddMilliseconds(r1.DurationMs),
            "the two retrains did not overlap");
    }

    [Fact]
    public void Each_experiment_is_one_trace_across_the_worker_processes()
    {
        ShowLog();
        var (roots, written) = scenario.Spans;
        _ = scenario.B;
        foreach (var id in new[] { scenario.IdA, scenario.IdB })
        {
            var root = Assert.Single(roots, s => s.DisplayName == $"experiment {id}");
            var stageSpans = written
                .Where(s => s.Tags.GetValueOrDefault("hournas.experiment") == id && PipelineStages.All.Contains(s.Name))
                .ToArray();
            Assert.Equal(PipelineStages.All.Order(), stageSpans.Select(s => s.Name).Distinct().Order());
            Assert.All(stageSpans, s => Assert.Equal(root.TraceId.ToHexString(), s.TraceId));
            Assert.DoesNotContain(stageSpans, s => s.ProcessId == Environment.ProcessId);
            Assert.True(stageSpans.Select(s => s.ProcessId).Distinct().Count() >= 4);
        }
    }

    [Fact]
    public void A_real_Prometheus_scrapes_the_stage_durations_of_a_finished_experiment_and_the_queue_consumers()
    {
        ShowLog();
        var (durations, completed, consumers) = scenario.Scraped;
        Assert.Equal(PipelineStages.All.Order(), durations.Select(d => d.Labels["hournas_stage"]).Order());
        Assert.All(durations, d => Assert.Equal(("completed", 1.0), (d.Labels["hournas_outcome"], d.Value)));
        // B's stages ran on four worker processes, each scraped as its own target.
        Assert.True(durations.Select(d => d.Labels["instance"]).Distinct().Count() >= 4);
        Assert.InRange(Assert.Single(completed).Value, 2, 10);
        // Both retraining workers consume the one retrain queue.
        var retrainQueue = PipelineStages.Sequence.Single(s => s.Name == PipelineStages.Retrain).Queue;
        Assert.Equal(2, consumers.Single(c => c.Labels["queue"] == retrainQueue).Value);
    }

    [Fact]
    public void A_supernet_worker_trains_one_supernet_at_a_time()
    {
        ShowLog();
        _ = scenario.B;
        // A's stage 2 and B's stage 1 share the one supernet-training queue.
        var supernetSpans = scenario.Spans.Written
            .Where(s => s.Name is PipelineStages.VitalSearch or PipelineStages.NonVitalSearch).ToArray();
        Assert.True(supernetSpans.Count(s => s.Tags["hournas.worker"] == "supernet-2") >= 4,
            "supernet-2 ran both stages of A and B");
        foreach (var worker in supernetSpans.GroupBy(s => s.Tags["hournas.worker"]))
        {
            var ordered = worker.OrderBy(s => s.Start).ToArray();
            for (var i = 1; i < ordered.Length; i++)
                Assert.True(ordered[i].Start >= ordered[i - 1].Start.AddMilliseconds(ordered[i - 1].DurationMs),
                    $"{worker.Key} ran {ordered[i].Name} of {ordered[i].Tags["hournas.experiment"]} during " +
                    $"{ordered[i - 1].Name} of {ordered[i - 1].Tags["hournas.experiment"]}");
        }
    }
}
