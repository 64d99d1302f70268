using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace HourNas.AppHost.Tests;

/// <summary>
/// The Aspire AppHost as a user starts it, from xunit and without Docker: RabbitMQ and Redis from their Debian packages,
/// the coordinator and every worker as processes; a smoke experiment goes through the whole distributed pipeline.
/// </summary>
public sealed class AppHostTests
{
    [Fact]
    public async Task The_app_host_starts_every_service_and_runs_an_experiment_to_completion()
    {
        var state = Path.Combine(Path.GetTempPath(), "hournas-apphost-" + Guid.NewGuid().ToString("N")[..8]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        try
        {
            // Ports apart from those ./test.sh's own RabbitMQ and Redis use; a free one for the coordinator's API.
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.HourNas_AppHost>(
                [$"--HourNas:State={state}", "--HourNas:RabbitMqPort=27672", "--HourNas:RedisPort=27379", $"--HourNas:CoordinatorPort={FreePort()}"],
                timeout.Token);
            await using var app = await builder.BuildAsync(timeout.Token);
            await app.StartAsync(timeout.Token);
            foreach (var resource in new[] { "rabbitmq", "redis", "coordinator" })
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
            foreach (var resource in new[] { "vital-blocks", "space-shrinking", "supernet-training", "retraining" })
                await app.ResourceNotifications.WaitForResourceAsync(resource, KnownResourceStates.Running, timeout.Token);

            using var http = app.CreateHttpClient("coordinator", "http");
            var submitted = await http.PostAsJsonAsync("experiments", new { id = "apphost-smoke", spec = new { preset = "smoke" } }, timeout.Token);
            Assert.True(submitted.IsSuccessStatusCode, await submitted.Content.ReadAsStringAsync(timeout.Token));

            JsonElement experiment;
            string status;
            do
            {
                await Task.Delay(500, timeout.Token);
                experiment = await http.GetFromJsonAsync<JsonElement>("experiments/apphost-smoke", timeout.Token);
                status = experiment.GetProperty("status").GetString()!;
            }
            while (status is "Submitted" or "Running");

            Assert.True(status == "Completed", experiment.ToString());
            Assert.InRange(experiment.GetProperty("result").GetProperty("top1").GetDouble(), 0.3, 1.0);
            var workers = experiment.GetProperty("stages").EnumerateArray().SelectMany(s => s.GetProperty("workers").EnumerateArray()).Select(w => w.GetString()).ToHashSet();
            Assert.True(workers.Count >= 2, $"training stages ran in the worker processes: {string.Join(", ", workers)}");
            Assert.True(File.Exists(Path.Combine(state, "artifacts", "apphost-smoke", "retrain", "weights.pth")));
        }
        finally
        {
            try { Directory.Delete(state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
