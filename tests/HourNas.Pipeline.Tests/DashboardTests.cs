using System.Diagnostics;
using System.Text.Json;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// The trace viewer for embedded runs as a user starts it (infra/dashboard.sh: the standalone Aspire dashboard from its
/// NuGet package, no Docker): an embedded smoke experiment exported over OTLP shows up there as one trace holding the
/// root span and every stage span, read back through the dashboard's telemetry API.
/// </summary>
public sealed class DashboardTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private Process? _dashboard;
    private readonly System.Text.StringBuilder _log = new();

    [Fact]
    public async Task An_embedded_experiment_exported_over_otlp_is_one_trace_in_the_standalone_dashboard()
    {
        var ports = LoopbackPorts.PickFree(3);
        var (ui, grpc, http) = (ports[0], ports[1], ports[2]);
        var start = new ProcessStartInfo(
            "bash", [Path.Combine(TestEnvironment.RepositoryRoot, "infra", "dashboard.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["HOURNAS_DASHBOARD_URL"] = $"http://127.0.0.1:{ui}",
                ["HOURNAS_DASHBOARD_OTLP_GRPC"] = $"http://127.0.0.1:{grpc}",
                ["HOURNAS_DASHBOARD_OTLP_HTTP"] = $"http://127.0.0.1:{http}",
            },
        };
        _dashboard = Process.Start(start)!;
        _dashboard.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _dashboard.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _dashboard.BeginOutputReadLine();
        _dashboard.BeginErrorReadLine();
        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ui}/api/telemetry/") };
        await Until(
            async () => !_dashboard.HasExited
                && (await Try(() => api.GetAsync("traces")))?.IsSuccessStatusCode == true,
            TimeSpan.FromSeconds(120), "the dashboard answering");

        var id = "traced-" + Guid.NewGuid().ToString("N")[..6];
        var builder = PipelineRegistration.EmbeddedPipeline(_folder.Path, new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{grpc}",
        });
        using (var host = builder.Build())
        {
            await host.StartAsync();
            var experiments = host.Services.GetRequiredService<ExperimentService>();
            await experiments.Submit(id, Specs.Smoke);
            var done = await Waits.Until(
                () => experiments.Get(id), s => s.IsFinished, TimeSpan.FromMinutes(3), $"'{id}' finishing");
            Assert.True(done.Status == ExperimentStatus.Completed, Waits.Describe(done));
            await host.StopAsync();  // flushes the exporter
        }

        // The root span's trace holds every stage span, as the dashboard's trace view shows it.
        string[] expected = [$"experiment {id}", .. PipelineStages.All];
        string[] found = [];
        (string Trace, string Scope, string Name)[] spans = [];
        string? root = null;
        await Until(async () =>
        {
            using var traces = JsonDocument.Parse(await api.GetStringAsync("traces"));
            spans = traces.RootElement.GetProperty("data").GetProperty("resourceSpans").EnumerateArray()
                .SelectMany(r => r.GetProperty("scopeSpans").EnumerateArray())
                .SelectMany(s => s.GetProperty("spans").EnumerateArray().Select(span => (
                    Trace: span.GetProperty("traceId").GetString()!,
                    Scope: s.GetProperty("scope").GetProperty("name").GetString()!,
                    Name: span.GetProperty("name").GetString()!)))
                .ToArray();
            root = spans.FirstOrDefault(s => s.Name == $"experiment {id}").Trace;
            found = spans.Where(s => s.Trace == root && expected.Contains(s.Name))
                .Select(s => s.Name)
                .Distinct()
                .Order()
                .ToArray();
            return root is not null && found.Length == expected.Length;
        }, TimeSpan.FromSeconds(30), "the experiment's trace in the dashboard");
        Assert.Equal(expected.Order(), found);

        // Orleans calls inside the experiment's trace are kept; Orleans calls that would start a trace of their own
        // (the membership table, timers, the test's state polls) are not there to bury it.
        Assert.Contains(spans, s => s.Trace == root && s.Name == "IExperimentGrain/Submit");
        var orleansOnly = spans.GroupBy(s => s.Trace)
            .Where(t => t.All(s => s.Scope.StartsWith("Microsoft.Orleans", StringComparison.Ordinal)))
            .Select(t => t.First().Name).ToArray();
        Assert.True(orleansOnly.Length == 0,
            $"{orleansOnly.Length} traces of Orleans calls alone, " +
            $"e.g. {string.Join(", ", orleansOnly.Distinct().Take(5))}");
    }

    /// <summary>
    /// <see cref="Waits.Until(Func{Task{bool}}, TimeSpan, string)"/>, with the dashboard's own output when it times
    /// out.
    /// </summary>
    private async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        try
        {
            await Waits.Until(condition, timeout, what);
        }
        catch (TimeoutException)
        {
            lock (_log) output.WriteLine(_log.ToString());
            throw;
        }
    }

    private static async Task<HttpResponseMessage?> Try(Func<Task<HttpResponseMessage>> request)
    {
        try
        {
            return await request();
        }
        catch (HttpRequestException)
        {
            return null;  // not listening yet
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_dashboard is { HasExited: false })
        {
            _dashboard.Kill(entireProcessTree: true);
            await _dashboard.WaitForExitAsync();
        }
        _dashboard?.Dispose();
        _folder.Dispose();
    }
}
