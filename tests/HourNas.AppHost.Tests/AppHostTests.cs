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
/// The Aspire AppHost as a user starts it, from xunit and without Docker: RabbitMQ and Redis from their Debian packages,
/// the coordinator and every worker as processes; a smoke experiment goes through the whole distributed pipeline.
/// </summary>
public sealed class AppHostTests(ITestOutputHelper output)
{
    private static readonly string[] Resources =
        ["rabbitmq", "redis", "coordinator", "vital-blocks", "space-shrinking", "supernet-training", "retraining"];

    [Fact]
    public async Task The_app_host_starts_every_service_and_runs_an_experiment_to_completion()
    {
        var state = Path.Combine(Path.GetTempPath(), "hournas-apphost-" + Guid.NewGuid().ToString("N")[..8]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var keepState = false;
        try
        {
            // Ports apart from those ./test.sh's own RabbitMQ and Redis use; a free one for the coordinator's API.
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.HourNas_AppHost>(
                [$"--HourNas:State={state}", "--HourNas:RabbitMqPort=27672", "--HourNas:RedisPort=27379", $"--HourNas:CoordinatorPort={FreePort()}"],
                timeout.Token);
            await using var app = await builder.BuildAsync(timeout.Token);
            // Every resource's state changes and log lines, so a failure says which resource stalled and why.
            var record = new ConcurrentQueue<string>();
            var started = DateTime.UtcNow;
            void Note(string resource, string line) => record.Enqueue($"{(DateTime.UtcNow - started).TotalSeconds,6:F1}s {resource}: {line}");
            var logs = app.Services.GetRequiredService<ResourceLoggerService>();
            foreach (var resource in Resources)
                _ = Task.Run(async () =>
                {
                    await foreach (var batch in logs.WatchAsync(resource).WithCancellation(timeout.Token))
                        foreach (var line in batch)
                            Note(resource, line.Content);
                }, timeout.Token);
            _ = Task.Run(async () =>
            {
                await foreach (var change in app.ResourceNotifications.WatchAsync(timeout.Token))
                    Note(change.Resource.Name, $"[{change.Snapshot.State?.Text} {change.Snapshot.HealthStatus}]");
            }, timeout.Token);
            try
            {
                await RunSmokeExperiment(app, state, timeout.Token);
            }
            catch
            {
                output.WriteLine($"state folder: {state} (kept)");
                foreach (var line in record.TakeLast(400))
                    output.WriteLine(line);
                keepState = true;
                throw;
            }
        }
        finally
        {
            if (!keepState)
                try { Directory.Delete(state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
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
        var submitted = await http.PostAsJsonAsync("experiments", new { id = "apphost-smoke", spec = new { preset = "smoke" } }, cancel);
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
        var workers = experiment.GetProperty("stages").EnumerateArray().SelectMany(s => s.GetProperty("workers").EnumerateArray()).Select(w => w.GetString()).ToHashSet();
        Assert.True(workers.Count >= 2, $"training stages ran in the worker processes: {string.Join(", ", workers)}");
        Assert.True(File.Exists(Path.Combine(state, "artifacts", "apphost-smoke", "retrain", "weights.pth")));
        // The experiment's web page, from the Redis-held state and the shared artifact folder.
        var page = await http.GetStringAsync("ui/experiments/apphost-smoke", cancel);
        Assert.Contains(experiment.GetProperty("result").GetProperty("genotype").GetString()!, page);
        Assert.Contains("/experiments/apphost-smoke/artifacts/weights.pth", page);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
