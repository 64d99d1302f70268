using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace HourNas.AppHost.Tests;

/// <summary>
/// The Aspire AppHost as a user starts it, from xunit and without Docker: RabbitMQ and Redis from their Debian
/// packages, the coordinator and every worker as processes; a smoke experiment goes through the whole distributed
/// pipeline.
/// </summary>
public sealed class AppHostTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_app_host_starts_every_service_and_runs_an_experiment_to_completion()
    {
        var state = Path.Combine(Path.GetTempPath(), "hournas-apphost-" + Guid.NewGuid().ToString("N")[..8]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var keepState = false;
        try
        {
            // Ports apart from those ./test.sh's own RabbitMQ and Redis use; Aspire picks a free one for the
            // coordinator's API.
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.HourNas_AppHost>(
                [
                    $"--HourNas:State={state}", "--HourNas:RabbitMqPort=27672", "--HourNas:RedisPort=27379",
                    "--HourNas:CoordinatorPort=0", "--HourNas:Numerics=portable",
                ],
                timeout.Token);
            await using var app = await builder.BuildAsync(timeout.Token);
            // Every resource's state changes and log lines, so a failure says which resource stalled and why.
            var record = new ConcurrentQueue<Entry>();
            var states = new ConcurrentDictionary<string, (string Resource, string State)>();  // by replica
            var started = DateTime.UtcNow;
            void Note(string resource, string line, bool isLog = true) =>
                record.Enqueue(
                    new(resource, $"{(DateTime.UtcNow - started).TotalSeconds,6:F1}s {resource}: {line}", isLog));
            var logs = app.Services.GetRequiredService<ResourceLoggerService>();
            _ = Task.Run(async () =>
            {
                await foreach (var change in app.ResourceNotifications.WatchAsync(timeout.Token))
                {
                    if (change.Snapshot.IsHidden) continue;  // Aspire's own helpers (a project's rebuilder)
                    // Logs are kept per replica id (a project's carries a suffix): follow each id once it appears.
                    if (!states.ContainsKey(change.ResourceId))
                        _ = Task.Run(async () =>
                        {
                            await foreach (var batch in logs.WatchAsync(change.ResourceId)
                                .WithCancellation(timeout.Token))
                                foreach (var line in batch)
                                    Note(change.Resource.Name,
                                        Colours.Replace(Timestamp.Replace(line.Content, "", 1), ""));
                        }, timeout.Token);
                    var now = $"{change.Snapshot.State?.Text} {change.Snapshot.HealthStatus}" +
                        $"{(change.Snapshot.ExitCode is { } code ? $" exit {code}" : "")}";
                    states[change.ResourceId] = (change.Resource.Name, now);
                    Note(change.Resource.Name, $"[{now}]", isLog: false);
                }
            }, timeout.Token);
            try
            {
                await RunSmokeExperiment(app, state, timeout.Token);
            }
            catch (Exception e)
            {
                output.WriteLine($"state folder: {state} (kept)");
                foreach (var entry in record.TakeLast(400))
                    output.WriteLine(entry.Line);
                keepState = true;
                // CI shows only the end of its log: the failure message itself says what each resource was doing.
                throw new Xunit.Sdk.XunitException($"{e.Message}\n{Diagnosis(states, record)}", e);
            }
        }
        finally
        {
            if (!keepState)
                try { Directory.Delete(state, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task RunSmokeExperiment(DistributedApplication app, string state, CancellationToken cancel)
    {
        await app.StartAsync(cancel);
        foreach (var resource in new[] { "rabbitmq", "redis", "coordinator" })
            await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cancel);
        foreach (var resource in new[] { "vital-blocks", "space-shrinking", "supernet-training", "retraining" })
            await app.ResourceNotifications.WaitForResourceAsync(resource, KnownResourceStates.Running, cancel);

        using var http = app.CreateHttpClient("coordinator", "http");
        var submitted = await http.PostAsJsonAsync("experiments",
            new { id = "apphost-smoke", spec = new { preset = "smoke" } }, cancel);
        Assert.True(submitted.IsSuccessStatusCode, await submitted.Content.ReadAsStringAsync(cancel));

        JsonElement experiment;
        string status;
        do
        {
            await Task.Delay(500, cancel);
            experiment = await http.GetFromJsonAsync<JsonElement>("experiments/apphost-smoke", cancel);
            status = experiment.GetProperty("status").GetString()!;
        }
        while (status is "Submitted" or "Running");

        Assert.True(status == "Completed", experiment.ToString());
        Assert.InRange(experiment.GetProperty("result").GetProperty("top1").GetDouble(), 0.3, 1.0);
        var workers = experiment.GetProperty("stages").EnumerateArray()
            .SelectMany(s => s.GetProperty("workers").EnumerateArray())
            .Select(w => w.GetString())
            .ToHashSet();
        Assert.True(workers.Count >= 2, $"training stages ran in the worker processes: {string.Join(", ", workers)}");
        Assert.True(File.Exists(Path.Combine(state, "artifacts", "apphost-smoke", "retrain", "weights.pth")));
        // HourNas:Numerics reaches every worker process: the supernet and the retraining ran portable.
        foreach (var stage in new[] { "stage1", "stage2", "retrain" })
        {
            using var numerics = JsonDocument.Parse(
                await File.ReadAllTextAsync(Path.Combine(state, "artifacts", "apphost-smoke", stage, "numerics.json"),
                    cancel));
            Assert.Equal("portable", numerics.RootElement.GetProperty("mode").GetString());
        }
        // The experiment's web page, from the Redis-held state and the shared artifact folder.
        var page = await http.GetStringAsync("ui/experiments/apphost-smoke", cancel);
        Assert.Contains(experiment.GetProperty("result").GetProperty("genotype").GetString()!, page);
        Assert.Contains("/experiments/apphost-smoke/artifacts/weights.pth", page);
    }

    /// <summary>
    /// A few lines: every resource's last state, then the error-looking log lines (else the last lines) of each
    /// resource that is not running and healthy.
    /// </summary>
    private static string Diagnosis(IReadOnlyDictionary<string, (string Resource, string State)> states,
        IEnumerable<Entry> record)
    {
        var lines = new List<string>
        {
            "states: " + string.Join("; ", states.Values.Order().Select(s => $"{s.Resource} {s.State}")),
        };
        var down = states.Values
            .Where(s => !s.State.StartsWith($"{KnownResourceStates.Running} Healthy", StringComparison.Ordinal))
            .Select(s => s.Resource)
            .Distinct();
        foreach (var resource in down)
        {
            var own = record.Where(r => r.Resource == resource && r.IsLog).Select(r => r.Line).ToList();
            var errors = own.Where(l => ErrorLike.IsMatch(l)).ToList();
            lines.AddRange((errors.Count > 0 ? errors : own).TakeLast(6)
                .Select(l => l.Length > 220 ? l[..220] + "..." : l));
        }
        return string.Join("\n", lines);
    }

    private sealed record Entry(string Resource, string Line, bool IsLog);

    /// <summary>The time DCP puts before each log line (the record has its own, relative one).</summary>
    private static readonly System.Text.RegularExpressions.Regex Timestamp = new(@"^\d{4}-\d\d-\d\dT[\d:.]+Z ");

    /// <summary>The console logger's colour codes.</summary>
    private static readonly System.Text.RegularExpressions.Regex Colours = new(@"\x1B\[[0-9;]*m");

    private static readonly System.Text.RegularExpressions.Regex ErrorLike =
        new("exception|error|fail|crit|unhandled|refused|denied|in use",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase);
}
