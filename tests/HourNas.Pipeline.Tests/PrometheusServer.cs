using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using HourNas.ServiceDefaults;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c> package, installed by ./test.sh) on a free loopback port, scraping
/// every second the targets listed in a file-discovery file this test rewrites as services start, with a bearer
/// key when the services need one.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly TempFolder _folder;
    private readonly Process _process;
    private readonly HttpClient _http;
    private readonly List<string> _targets = [];

    private PrometheusServer(TempFolder folder, Process process, string address)
    {
        _folder = folder;
        _process = process;
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    private string TargetsFile => Path.Combine(_folder.Path, "targets.json");

    public static async Task<PrometheusServer> Start(string? apiKey = null)
    {
        const string binary = "/usr/bin/prometheus";
        if (!File.Exists(binary))
            throw new FileNotFoundException("Debian's prometheus package is not installed (./test.sh installs it)");
        var folder = new TempFolder();
        var port = LoopbackPorts.PickFree(1)[0];
        var targets = Path.Combine(folder.Path, "targets.json");
        await File.WriteAllTextAsync(targets, "[]");
        var authorization = apiKey is null ? "" : $"\n    authorization: {{ credentials: '{apiKey}' }}";
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "prometheus.yml"), $"""
            global: {"{"} scrape_interval: 1s, scrape_timeout: 900ms {"}"}
            scrape_configs:
              - job_name: hournas{authorization}
                file_sd_configs: [{"{"} files: ['{targets}'], refresh_interval: 1s {"}"}]
            """);
        var start = new ProcessStartInfo(binary,
        [
            "--config.file=" + Path.Combine(folder.Path, "prometheus.yml"),
            "--storage.tsdb.path=" + Path.Combine(folder.Path, "data"),
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(folder, process, $"http://127.0.0.1:{port}/");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"prometheus exited:\n{log}");
            try
            {
                if ((await server._http.GetAsync("-/ready")).IsSuccessStatusCode) return server;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException($"prometheus was not ready in 30 s:\n{log}");
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Adds a service's base address (http://host:port) to the scraped targets. Services start in parallel: the file
    /// is rewritten whole under one lock, and moved into place so Prometheus never reads half of it.
    /// </summary>
    public void Scrape(string address)
    {
        var uri = new Uri(address);
        lock (_targets)
        {
            _targets.Add($"{uri.Host}:{uri.Port}");
            File.WriteAllText(TargetsFile + ".tmp", JsonSerializer.Serialize(new[] { new { targets = _targets } }));
            File.Move(TargetsFile + ".tmp", TargetsFile, overwrite: true);
        }
    }

    /// <summary>An instant PromQL query: each series' labels and value.</summary>
    public async Task<IReadOnlyList<MetricSample>> Query(string promql)
    {
        var answer = await _http.GetFromJsonAsync<JsonElement>("api/v1/query?query=" + Uri.EscapeDataString(promql));
        if (answer.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"PromQL '{promql}' failed: {answer}");
        return
        [
            .. answer.GetProperty("data").GetProperty("result").EnumerateArray().Select(r => new MetricSample(
                r.GetProperty("metric").TryGetProperty("__name__", out var n) ? n.GetString()! : "",
                r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
                double.Parse(r.GetProperty("value")[1].GetString()!,
                    System.Globalization.CultureInfo.InvariantCulture))),
        ];
    }

    /// <summary>The health of every scrape target, as Prometheus saw it last.</summary>
    public async Task<IReadOnlyList<(string Instance, string Health, string Error)>> Targets()
    {
        var answer = await _http.GetFromJsonAsync<JsonElement>("api/v1/targets");
        return
        [
            .. answer.GetProperty("data").GetProperty("activeTargets").EnumerateArray().Select(t => (
                t.GetProperty("labels").GetProperty("instance").GetString()!,
                t.GetProperty("health").GetString()!,
                t.GetProperty("lastError").GetString() ?? "")),
        ];
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _folder.Dispose();
    }
}
