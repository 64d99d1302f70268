using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using HourNas.Cli;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// A coordinator web host with the embedded pipeline behind it, driven over HTTP and by the <c>hournas</c> client
/// commands.
/// </summary>
public sealed class CoordinatorHost : IAsyncLifetime
{
    public TempFolder Artifacts { get; } = new();

    public WebApplication App { get; private set; } = null!;

    public string Address { get; private set; } = "";

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddEmbeddedPipeline(Artifacts.Path);
        builder.Services.AddExperimentApi();
        App = builder.Build();
        App.MapDefaultEndpoints();
        App.MapExperimentApi();
        await App.StartAsync();
        Address = App.Urls.Single();
        Http = new HttpClient { BaseAddress = new Uri(Address) };
    }

    public (int Exit, string Out, string Error) Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = HournasCli.Run([.. args, "--coordinator", Address], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Artifacts.Dispose();
    }
}

public sealed class ApiAndClientTests(CoordinatorHost host) : IClassFixture<CoordinatorHost>
{
    [Fact]
    public void Submit_watch_status_list_export_run_a_whole_experiment_through_the_coordinator()
    {
        var submit = host.Cli("submit", "--preset", "smoke", "--id", "api-1");
        Assert.True(submit.Exit == 0, submit.Error);
        Assert.Equal("api-1", submit.Out.Trim());
        Assert.Contains($"page: {host.Address}/ui/experiments/api-1", submit.Error);

        var watch = host.Cli("watch", "api-1", "--interval", "0.3");
        Assert.True(watch.Exit == 0, watch.Error);
        Assert.Contains("[stage1] epoch 1/1 done", watch.Error);
        Assert.Contains("test top-1:", watch.Out);

        var status = host.Cli("status", "api-1", "--json");
        var state = JsonSerializer.Deserialize<ExperimentState>(status.Out, PipelineJson.Options)!;
        Assert.Equal(ExperimentStatus.Completed, state.Status);
        Assert.Contains($"page:           {host.Address}/ui/experiments/api-1", host.Cli("status", "api-1").Out);

        var list = host.Cli("list");
        Assert.Contains("api-1", list.Out);
        Assert.Contains("Completed", list.Out);

        using var export = new TempFolder();
        var exported = host.Cli("export", "api-1", "--to", export.Path);
        Assert.True(exported.Exit == 0, exported.Error);
        // The coordinator wrote the report when the experiment completed; export brings it with the stage outputs.
        foreach (var name in new[] { "weights.pth", "genotype.json", "ablation.png", "accuracy-vs-flops.svg",
                     "progress.csv", "stage2/candidates.csv", "retrain/result.json" })
            Assert.True(File.Exists(Path.Combine(export.Path, name)), name);
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(host.Artifacts.Path, "api-1", "weights.pth")),
            File.ReadAllBytes(Path.Combine(export.Path, "weights.pth")));

        var cancel = host.Cli("cancel", "api-1");
        Assert.Equal(HournasCli.Failure, cancel.Exit);
        Assert.Contains("error: experiment 'api-1' already ended: Completed", cancel.Error);
    }

    [Fact]
    public async Task Metrics_show_experiments_by_status_and_the_stage_durations_of_a_finished_experiment()
    {
        var submit = host.Cli("submit", "--preset", "smoke", "--id", "metrics-1");
        Assert.True(submit.Exit == 0, submit.Error);
        Assert.True(host.Cli("watch", "metrics-1", "--interval", "0.3").Exit == 0);

        IReadOnlyList<MetricSample> samples = [];
        // The coordinator counts its experiments in the background (CoordinatorMetrics.Interval).
        await Waits.Until(async () =>
        {
            var response = await host.Http.GetAsync("metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            samples = MetricSample.Parse(await response.Content.ReadAsStringAsync());
            return samples.Any(s => s.Name == "hournas_experiments" && s.Labels["status"] == "Completed"
                && s.Value >= 1);
        }, CoordinatorMetrics.Interval * 4, "a completed experiment counted in hournas_experiments");

        var durations = samples.Where(s => s.Name == "hournas_stage_duration_seconds_count"
            && s.Labels.GetValueOrDefault("hournas_experiment") == "metrics-1").ToArray();
        Assert.Equal(
            PipelineStages.Sequence.Select(s => s.Name).Order(),
            durations.Select(s => s.Labels["hournas_stage"]).Order());
        Assert.All(durations, d => Assert.Equal(("completed", 1.0), (d.Labels["hournas_outcome"], d.Value)));
        var sum = samples.Single(s => s.Name == "hournas_stage_duration_seconds_sum"
            && s.Labels.GetValueOrDefault("hournas_experiment") == "metrics-1"
            && s.Labels["hournas_stage"] == PipelineStages.VitalSearch);
        Assert.InRange(sum.Value, 0.01, 600);
        Assert.Contains(samples, s => s.Name == "hournas_search_candidates_total" && s.Value > 0);
        // Nothing runs once the experiment is over: no stage is left reporting as running.
        Assert.DoesNotContain(samples, s => s.Name == "hournas_stage_running"
            && s.Labels.GetValueOrDefault("hournas_experiment") == "metrics-1");
    }

    [Fact]
    public async Task Compare_puts_experiments_side_by_side_in_the_cli_and_on_a_page()
    {
        Assert.Equal(0, host.Cli("submit", "--preset", "smoke", "--id", "cmp-1", "--seed", "1").Exit);
        Assert.Equal(0, host.Cli("submit", "--preset", "smoke", "--id", "cmp-2", "--seed", "2").Exit);
        Assert.Equal(0, host.Cli("watch", "cmp-1", "--interval", "0.3").Exit);
        Assert.Equal(0, host.Cli("watch", "cmp-2", "--interval", "0.3").Exit);

        var json = host.Cli("compare", "cmp-1", "cmp-2", "--json");
        Assert.True(json.Exit == 0, json.Error);
        var comparison = JsonDocument.Parse(json.Out).RootElement;
        var experiments = comparison.GetProperty("experiments").EnumerateArray().ToArray();
        Assert.Equal(["cmp-1", "cmp-2"], experiments.Select(e => e.GetProperty("id").GetString()));
        Assert.All(experiments, e => Assert.InRange(e.GetProperty("top1").GetDouble(), 0.2, 1.0));
        Assert.All(experiments, e => Assert.True(e.GetProperty("searchSeconds").GetDouble() > 0));
        // Only what differs: the seed, not the preset.
        var differences = comparison.GetProperty("specDifferences");
        Assert.Equal(["seed"], differences.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["1", "2"], differences.GetProperty("seed").EnumerateArray().Select(v => v.GetString()));

        var table = host.Cli("compare", "cmp-1", "cmp-2");
        Assert.True(table.Exit == 0, table.Error);
        Assert.Contains("cmp-2", table.Out);
        Assert.Contains("spec field", table.Out);
        Assert.Contains($"page: {host.Address}/ui/compare?ids=cmp-1,cmp-2", table.Out);
        Assert.NotEqual(0, host.Cli("compare", "cmp-1", "no-such").Exit);

        var page = await host.Http.GetAsync("ui/compare?ids=cmp-1,cmp-2");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("/ui/experiments/cmp-2", html);
        Assert.Contains("<th>seed</th>", html);
        Assert.Contains("<svg", html);
        // The list page's form sends ids=a&ids=b.
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("ui/compare?ids=cmp-1&ids=cmp-2")).StatusCode);
        Assert.Contains("name=\"ids\" value=\"cmp-1\"", await host.Http.GetStringAsync("ui"));
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Http.GetAsync("ui/compare?ids=")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync("ui/compare?ids=cmp-1,nope")).StatusCode);
    }

    [Fact]
    public async Task Bad_requests_get_a_status_and_a_message_naming_the_problem()
    {
        var unknownPreset = await host.Http.PostAsJsonAsync(
            "experiments", new SubmitExperiment("bad-preset", new() { Preset = "nope" }), PipelineJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, unknownPreset.StatusCode);
        var problem = await unknownPreset.Content.ReadFromJsonAsync<Microsoft.AspNetCore.Mvc.ProblemDetails>(
            PipelineJson.Options);
        Assert.Contains("unknown preset 'nope'", problem!.Detail);

        var badId = await host.Http.PostAsJsonAsync(
            "experiments", new SubmitExperiment("../../x", Specs.Smoke), PipelineJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, badId.StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync("experiments/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.PostAsync("experiments/nope/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("health")).StatusCode);

        var status = host.Cli("status", "nope");
        Assert.Equal(HournasCli.Failure, status.Exit);
        Assert.Contains("error: no experiment 'nope'", status.Error);
        var unreachable = HournasCli.Run(
            ["list", "--coordinator", "http://127.0.0.1:9"], new StringWriter(), new StringWriter());
        Assert.Equal(HournasCli.Failure, unreachable);
    }

    [Fact]
    public async Task Artifact_paths_cannot_leave_the_experiment_root()
    {
        var submitted = await host.Http.PostAsJsonAsync(
            "experiments",
            new SubmitExperiment("paths-1", Specs.Smoke with { BudgetMFlops = 0.05 }),
            PipelineJson.Options);
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        await File.WriteAllTextAsync(Path.Combine(host.Artifacts.Path, "secret.txt"), "outside any experiment");
        var escape = await host.Http.GetAsync("experiments/paths-1/artifacts/..%2F..%2Fsecret.txt");
        Assert.Contains(escape.StatusCode, new[] { HttpStatusCode.Forbidden, HttpStatusCode.NotFound });
        Assert.DoesNotContain("outside any experiment", await escape.Content.ReadAsStringAsync());
        var sibling = await host.Http.GetAsync("experiments/paths-1/artifacts/%2E%2E/secret.txt");
        Assert.DoesNotContain("outside any experiment", await sibling.Content.ReadAsStringAsync());

        var again = await host.Http.PostAsJsonAsync(
            "experiments", new SubmitExperiment("paths-1", Specs.Smoke), PipelineJson.Options);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task The_experiment_page_shows_stages_plots_genotype_and_artifact_links_that_work()
    {
        (await host.Http.PostAsJsonAsync("experiments", new SubmitExperiment("page-1", Specs.Smoke),
            PipelineJson.Options)).EnsureSuccessStatusCode();
        var experiments = host.App.Services.GetRequiredService<ExperimentService>();
        var done = await Waits.Until(
            () => experiments.Get("page-1"), s => s.IsFinished, TimeSpan.FromMinutes(3), "'page-1' finishing");
        Assert.True(done.Status == ExperimentStatus.Completed, Waits.Describe(done));

        var response = await host.Http.GetAsync("ui/experiments/page-1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains(done.Result!.Genotype, page);
        Assert.Contains($"top-1 {done.Result.Top1:P2}", page);
        Assert.All(PipelineStages.All, stage => Assert.Contains($"<td>{stage}</td>", page));
        // Stage timeline, training curves, accuracy vs FLOPs, ablation: four inline plots; a finished page does not
        // reload.
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Count(page, "<svg"));
        Assert.DoesNotContain("http-equiv=\"refresh\"", page);
        var links = System.Text.RegularExpressions.Regex
            .Matches(page, "href=\"(/experiments/page-1/artifacts/[^\"]+)\"")
            .Select(m => m.Groups[1].Value)
            .ToArray();
        Assert.Contains("/experiments/page-1/artifacts/weights.pth", links);
        Assert.Equal(host.App.Services.GetRequiredService<ArtifactStore>().List("page-1").Count, links.Length);
        foreach (var link in links.Where(l => l.EndsWith(".json") || l.EndsWith(".pth")))
            Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync(link.TrimStart('/'))).StatusCode);

        var list = await host.Http.GetStringAsync("ui");
        Assert.Contains("<a href=\"/ui/experiments/page-1\">page-1</a>", list);
        var missing = await host.Http.GetAsync("ui/experiments/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("No experiment 'nope'", await missing.Content.ReadAsStringAsync());
    }

    [Fact]
    public void A_running_experiment_page_reloads_itself_and_encodes_what_it_shows()
    {
        using var artifacts = new TempFolder();
        var now = DateTimeOffset.UtcNow;
        var state = new ExperimentState
        {
            Id = "enc-1",
            Spec = Specs.Smoke with { Preset = "<b>smoke</b>" },
            Status = ExperimentStatus.Running,
            SubmittedAt = now.AddSeconds(-30),
            CurrentStage = PipelineStages.VitalSearch,
            Genotype = "k3e1 <script>",
            Stages =
            {
                new StageRecord
                {
                    Stage = PipelineStages.VitalBlocks,
                    Status = StageStatus.Completed,
                    StartedAt = now.AddSeconds(-30),
                    EndedAt = now.AddSeconds(-25),
                },
                new StageRecord
                {
                    Stage = PipelineStages.VitalSearch,
                    StartedAt = now.AddSeconds(-25),
                    Failures = { "worker lost: \"x\" < y" },
                },
            },
        };
        var page = ExperimentPages.ExperimentPage(state, new ArtifactStore(artifacts.Path), now);
        Assert.Contains("http-equiv=\"refresh\"", page);
        Assert.Contains("&lt;b&gt;smoke&lt;/b&gt;", page);
        Assert.Contains("k3e1 &lt;script&gt;", page);
        Assert.Contains("worker lost: &quot;x&quot; &lt; y", page);
        // A long reason or genotype wraps inside its cell instead of running off the page.
        Assert.Contains("td { overflow-wrap: anywhere; }", page);
        Assert.DoesNotContain("<script>", page);
        Assert.DoesNotContain("<b>smoke", page);
        // The running stage is drawn up to now: the timeline is the one plot before any training step.
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(page, "<svg"));
        Assert.Contains("No training step reported yet.", page);
    }
}
