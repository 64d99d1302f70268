using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Engine.Data;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HourNas.Pipeline.Tests;

/// <summary>A spec is checked where it comes in: names, sizes, numbers, devices, the inline skeleton.</summary>
public sealed class SpecValidationTests
{
    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/dev/zero")]
    [InlineData("../shared/presets/fashion-mnist.json")]
    public void A_preset_is_a_name_never_a_path(string preset)
    {
        var e = Assert.Throws<SearchSpaceException>(() =>
            ExperimentSpecs.Resolve(new ExperimentSpec { Preset = preset }));
        Assert.Contains($"unknown preset '{preset}'", e.Message);
    }

    [Fact]
    public void An_inline_skeleton_is_the_space_and_names_the_experiment()
    {
        var json = (Presets.Skeleton("smoke") with { Name = "my-space" }).ToJson();
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec
        {
            Preset = "ignored",
            Skeleton = json,
            BudgetMFlops = 0.8
        });
        Assert.Equal("my-space", resolved.Preset);
        Assert.Equal(new ArchitectureSpace(Presets.Skeleton("smoke")).Candidates.Count,
            ExperimentSpecs.Space(resolved).Candidates.Count);

        var huge = Presets.Skeleton("smoke") with { InputSize = 100_000 };
        var tooBig = Assert.Throws<SearchSpaceException>(() =>
            ExperimentSpecs.Resolve(new ExperimentSpec { Skeleton = huge.ToJson(), BudgetMFlops = 1 }));
        Assert.Contains("inputSize is 100,000; at most 1,024", tooBig.Message);
        var long_ = Assert.Throws<SearchSpaceException>(() =>
            ExperimentSpecs.Resolve(new ExperimentSpec
            {
                Skeleton = json + new string(' ',
                ExperimentSpecs.MaxSkeletonChars)
            }));
        Assert.Contains("inline skeleton is", long_.Message);
        Assert.Contains("not a valid skeleton", Assert.Throws<SearchSpaceException>(() =>
            ExperimentSpecs.Resolve(new ExperimentSpec { Skeleton = "{\"name\": 3" })).Message);
    }

    [Theory]
    [InlineData("budget", "the budget must be positive")]
    [InlineData("lr", "the learning rate must be in (0, 100]")]
    [InlineData("device", "device must be cpu, cuda or cuda:N, got 'garbage'")]
    [InlineData("long-device", "(5,000,000 characters)")]
    [InlineData("long-preset", "the preset name is 10,000,000 characters")]
    [InlineData("epochs", "search epochs must be between 1 and 10,000")]
    [InlineData("fraction", "lower fraction must be in (0, 1]")]
    public void Numbers_are_finite_and_bounded_and_strings_short(string field, string message)
    {
        var spec = Specs.Smoke;
        spec = field switch
        {
            "budget" => spec with { BudgetMFlops = double.PositiveInfinity },
            "lr" => spec with { LearningRate = double.NaN },
            "device" => spec with { Device = "garbage" },
            "long-device" => spec with { Device = new string('x', 5_000_000) },
            "long-preset" => spec with { Preset = new string('p', 10_000_000) },
            "epochs" => spec with { SearchEpochs = int.MaxValue },
            _ => spec with { MinFraction = double.NegativeInfinity },
        };
        var e = Assert.Throws<SearchSpaceException>(() => ExperimentSpecs.Resolve(spec));
        Assert.Contains(message, e.Message);
        Assert.True(e.Message.Length < 600, $"{e.Message.Length} characters");
    }

    [Fact]
    public void A_device_the_workers_do_not_offer_is_refused_at_submission()
    {
        using var folder = new TempFolder();
        var roots = new DataRoots([folder.Path]);
        var cuda = ExperimentSpecs.Resolve(Specs.Smoke with { Device = "cuda:0" });
        var e = Assert.Throws<ArgumentException>(() => ExperimentSpecs.Admit(cuda, ["cpu"], roots));
        Assert.Contains("device 'cuda:0' is not offered here: the workers offer cpu", e.Message);
        Assert.Equal("cuda:0", ExperimentSpecs.Admit(cuda, ["cpu", "cuda"], roots).Device);
        Assert.Equal("cpu", ExperimentSpecs.Admit(ExperimentSpecs.Resolve(Specs.Smoke with { Device = "CPU" }),
            ["cpu"], roots).Device);
    }
}

/// <summary>
/// Dataset folders must lie under the data roots, links resolved: no server path a request names is read.
/// </summary>
public sealed class DataRootTests : IDisposable
{
    private readonly TempFolder _temp = new();

    private string Root => Directory.CreateDirectory(_temp["root"]).FullName;

    /// <summary>A folder that looks like Fashion-MNIST by its file names (the contents do not matter here).</summary>
    public static string Dataset(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var name in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte" })
            File.WriteAllBytes(Path.Combine(folder, name), [0]);
        Assert.Equal("idx", Datasets.KindOf(folder));
        return folder;
    }

    [Fact]
    public void A_folder_under_a_root_is_admitted_as_its_real_path()
    {
        var inside = Dataset(Path.Combine(Root, "fmnist"));
        var roots = new DataRoots([Root]);
        Assert.Equal(inside, roots.Confine(inside));
        // A link inside the root to a folder inside the root is fine, and the real path is what the spec keeps.
        Directory.CreateSymbolicLink(Path.Combine(Root, "alias"), inside);
        Assert.Equal(inside, roots.Confine(Path.Combine(Root, "alias")));
        // A root reached through a link counts as itself.
        Directory.CreateSymbolicLink(_temp["root-link"], Root);
        Assert.Equal(inside, new DataRoots([_temp["root-link"]]).Confine(inside));
    }

    [Theory]
    [InlineData("outside", "is outside the data roots")]
    [InlineData("link-out", "is outside the data roots")]
    [InlineData("dotdot", "must not contain '..'")]
    [InlineData("relative", "must be an absolute path")]
    [InlineData("missing", "does not exist")]
    [InlineData("empty", "holds none of Fashion-MNIST IDX files")]
    [InlineData("etc", "is outside the data roots")]
    public void Anything_else_is_refused_naming_the_reason(string kind, string message)
    {
        var outside = Dataset(_temp["outside"]);
        Directory.CreateSymbolicLink(Path.Combine(Root, "link-out"), outside);
        Directory.CreateDirectory(Path.Combine(Root, "empty"));
        var data = kind switch
        {
            "outside" => outside,
            "link-out" => Path.Combine(Root, "link-out"),
            "dotdot" => Path.Combine(Root, "..", "outside"),
            "relative" => "root/fmnist",
            "missing" => Path.Combine(Root, "missing"),
            "empty" => Path.Combine(Root, "empty"),
            _ => "/etc",
        };
        var e = Assert.Throws<ArgumentException>(() => new DataRoots([Root]).Confine(data));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Real_paths_follow_links_as_the_operating_system_does()
    {
        var deep = Directory.CreateDirectory(_temp["a/b/c"]).FullName;
        Directory.CreateSymbolicLink(_temp["link"], deep);
        // link/.. is the link target's parent (a/b), not the folder holding the link.
        Assert.Equal(_temp["a/b"], FileSystemPaths.RealPath(_temp["link"] + "/.."));
        Directory.CreateSymbolicLink(_temp["loop1"], _temp["loop2"]);
        Directory.CreateSymbolicLink(_temp["loop2"], _temp["loop1"]);
        Assert.Contains("too many symbolic links",
            Assert.Throws<ArgumentException>(() => FileSystemPaths.RealPath(_temp["loop1"])).Message);
    }

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// The submission endpoint over HTTP: every bad request is a problem-details 400 (or 413) and starts nothing.
/// </summary>
public sealed class SubmissionOverHttpTests(CoordinatorHost host) : IClassFixture<CoordinatorHost>
{
    private async Task<(HttpStatusCode Status, ProblemDetails Problem, string MediaType)> Post(string json)
    {
        using var response = await host.Http.PostAsync("experiments", new StringContent(json, Encoding.UTF8,
            "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(body.Length < 4000, $"answer of {body.Length} characters");
        var problem = System.Text.Json.JsonSerializer.Deserialize<ProblemDetails>(body, PipelineJson.Options)!;
        return (response.StatusCode, problem, response.Content.Headers.ContentType?.MediaType ?? "");
    }

    [Theory]
    [InlineData("""{"id": "p1", "spec": {"preset": "/etc/shadow"}}""", "unknown preset '/etc/shadow'")]
    [InlineData("""{"id": "p2", "spec": {"preset": "/dev/zero"}}""", "unknown preset '/dev/zero'")]
    [InlineData("""{"id": "p3", "spec": {"preset": "smoke", "budgetMFlops": "Infinity"}}""",
        "the budget must be positive")]
    [InlineData("""{"id": "p4", "spec": {"preset": "smoke", "device": "garbage"}}""",
        "device must be cpu, cuda or cuda:N")]
    [InlineData("""{"id": "p5", "spec": {"preset": "smoke", "device": "cuda"}}""", "device 'cuda' is not offered here")]
    [InlineData("""{"id": "p6", "spec": {"preset": "smoke", "data": "/etc"}}""",
        "data folder '/etc' is outside the data roots")]
    [InlineData("""{"id": "p7", "spec": {"preset": "smoke", "budgetMflop": 2}}""", "budgetMflop")]
    [InlineData("""{"id": "p8", "spec": {"preset": "smoke"}, "priority": 1}""", "priority")]
    [InlineData("""{"id": "p9", "spec": {"preset": "smoke",""", "not valid JSON")]
    [InlineData("""{"id": "p10", "spec": {}}""", "the spec names no preset")]
    [InlineData("""{"id": "p11", "spec": {"preset": "smoke", "budgetMParams": -1}}""",
        "the parameter budget must be positive")]
    [InlineData("""{"id": "p12", "spec": {"preset": "smoke", "budgetMilliseconds": 2}}""",
        "a latency budget needs a latency table")]
    [InlineData("""{"id": "p13", "spec": {"preset": "smoke", "budgetMilliseconds": 2, "latencyTable": "{"}}""",
        "the spec's latency table is not valid JSON")]
    [InlineData("""{"id": "p14", "spec": {"preset": "smoke", "budgetMFlops": 1, "budgetsMFlops": [0.5, 1]}}""",
        "not both")]
    [InlineData("""{"id": "p15", "spec": {"preset": "smoke", "budgetsMFlops": [0.5, "Infinity"]}}""",
        "every budget of a family must be positive")]
    [InlineData("""{}""", "the request has no spec")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    public async Task A_bad_submission_is_a_problem_naming_it(string json, string detail)
    {
        var clock = Stopwatch.StartNew();
        var (status, problem, mediaType) = await Post(json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Equal(400, problem.Status);
        Assert.Contains(detail, problem.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}");
        var id = System.Text.RegularExpressions.Regex.Match(json, "\"(p[0-9]+)\"").Groups[1].Value;
        if (id.Length > 0) Assert.Null(await host.App.Services.GetRequiredService<ExperimentService>().Get(id));
    }

    [Fact]
    public async Task The_cli_sends_a_local_skeleton_file_inline_and_the_coordinator_keeps_it()
    {
        using var folder = new TempFolder();
        var file = folder["my-smoke.json"];
        await File.WriteAllTextAsync(file, (Presets.Skeleton("smoke") with { Name = "my-smoke" }).ToJson());
        var submit = host.Cli("submit", "--preset", file, "--id", "file-1", "--budget-mflops", "0.05");
        Assert.True(submit.Exit == 0, submit.Error);
        var state = (await host.App.Services.GetRequiredService<ExperimentService>().Get("file-1"))!;
        Assert.Equal("my-smoke", state.Spec!.Preset);
        Assert.Equal("my-smoke", Skeleton.FromJson(state.Spec.Skeleton!, "stored").Name);
        var missing = host.Cli("submit", "--preset", folder["nope.json"], "--id", "file-2");
        Assert.Equal(Cli.HournasCli.Failure, missing.Exit);
        Assert.Contains("skeleton file", missing.Error);
        Assert.Contains("does not exist", missing.Error);
    }

    [Fact]
    public async Task An_oversized_body_is_refused_before_it_is_read_whole()
    {
        var (status, problem, _) = await Post("{\"id\": \"big\", \"spec\": {\"preset\": \"" + new string('p',
            10_000_000) + "\"}}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("larger than 262,144 bytes", problem.Detail);
    }

    [Fact]
    public async Task An_artifact_link_that_leads_out_of_the_experiment_is_neither_listed_nor_served()
    {
        var submitted = await host.Http.PostAsJsonAsync("experiments",
            new SubmitExperiment("links-1", Specs.Smoke with { BudgetMFlops = 0.05 }), PipelineJson.Options);
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        var secret = Path.Combine(host.Artifacts.Path, "secret.txt");
        await File.WriteAllTextAsync(secret, "outside any experiment");
        var folder = Directory.CreateDirectory(Path.Combine(host.Artifacts.Path, "links-1")).FullName;
        File.CreateSymbolicLink(Path.Combine(folder, "leak.txt"), secret);
        Directory.CreateSymbolicLink(Path.Combine(folder, "leakdir"), host.Artifacts.Path);

        var leak = await host.Http.GetAsync("experiments/links-1/artifacts/leak.txt");
        Assert.Equal(HttpStatusCode.Forbidden, leak.StatusCode);
        Assert.DoesNotContain("outside any experiment", await leak.Content.ReadAsStringAsync());
        var throughDir = await host.Http.GetAsync("experiments/links-1/artifacts/leakdir/secret.txt");
        Assert.Equal(HttpStatusCode.Forbidden, throughDir.StatusCode);
        var listed = await host.Http.GetFromJsonAsync<string[]>("experiments/links-1/artifacts", PipelineJson.Options);
        Assert.DoesNotContain(listed!, f => f.Contains("leak"));
    }
}

/// <summary>
/// API keys: required for everything but the health probes once configured; refused start when exposed without.
/// </summary>
public sealed class ApiKeyTests : IAsyncLifetime
{
    private readonly TempFolder _artifacts = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddEmbeddedPipeline(_artifacts.Path, new Dictionary<string,
            string?>
        { ["HourNas:ApiKeys:0"] = "s3cret-key" });
        builder.Services.AddExperimentApi();
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapExperimentApi();
        await _app.StartAsync();
        _http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = new Uri(_app.Urls.Single()),
        };
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_refused_and_keys_in_any_accepted_form_pass()
    {
        var none = await _http.GetAsync("experiments");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("an API key is required", (await none.Content.ReadFromJsonAsync<ProblemDetails>())!.Detail);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send("experiments", bearer: "wrong")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _http.GetAsync("ui")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("health")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Send("experiments", bearer: "s3cret-key")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send("experiments", header: "s3cret-key")).StatusCode);

        // A browser logs in once with ?key=, gets an HttpOnly cookie and a redirect that drops the key from the
        // address.
        var login = await _http.GetAsync("ui?key=s3cret-key");
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal("/ui", login.Headers.Location!.OriginalString);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", cookie);
        Assert.Equal(HttpStatusCode.OK, (await Send("ui", cookie: cookie.Split(';')[0])).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _http.GetAsync("ui?key=wrong")).StatusCode);
    }

    [Fact]
    public void The_cli_sends_the_key_from_the_environment()
    {
        var address = _app.Urls.Single();
        var before = Environment.GetEnvironmentVariable("HOURNAS_API_KEY");
        try
        {
            var error = new StringWriter();
            Environment.SetEnvironmentVariable("HOURNAS_API_KEY", null);
            Assert.Equal(Cli.HournasCli.Failure, Cli.HournasCli.Run(["list", "--coordinator", address],
                new StringWriter(), error));
            Assert.Contains("an API key is required", error.ToString());
            Environment.SetEnvironmentVariable("HOURNAS_API_KEY", "s3cret-key");
            Assert.Equal(0, Cli.HournasCli.Run(["list", "--coordinator", address], new StringWriter(),
                new StringWriter()));
        }
        finally
        {
            Environment.SetEnvironmentVariable("HOURNAS_API_KEY", before);
        }
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://*:0")]
    [InlineData("http://192.0.2.7:5080")]
    public async Task Without_keys_a_coordinator_told_to_listen_off_loopback_refuses_to_start(string url)
    {
        using var artifacts = new TempFolder();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls(url);
        builder.AddEmbeddedPipeline(artifacts.Path);
        builder.Services.AddExperimentApi();
        await using var app = builder.Build();
        var e = Assert.Throws<InvalidOperationException>(() => app.MapExperimentApi());
        Assert.Contains("without API keys: set HourNas:ApiKeys", e.Message);
    }

    [Fact]
    public async Task Without_keys_a_request_from_another_host_is_refused()
    {
        using var artifacts = new TempFolder();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddEmbeddedPipeline(artifacts.Path);
        builder.Services.AddExperimentApi();
        await using var app = builder.Build();
        // Stands in for a connection from another machine (a proxy or port forward onto loopback looks the same).
        app.Use((http, next) =>
        {
            if (http.Request.Headers.ContainsKey("X-Test-Remote"))
                http.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.9");
            return next(http);
        });
        app.MapExperimentApi();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("experiments")).StatusCode);
        using var remote = new HttpRequestMessage(HttpMethod.Get, "experiments")
        {
            Headers = { { "X-Test-Remote",
            "1" } }
        };
        var refused = await http.SendAsync(remote);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("answers loopback connections only", await refused.Content.ReadAsStringAsync());
        await app.StopAsync();
    }

    private Task<HttpResponseMessage> Send(string path, string? bearer = null, string? header = null,
        string? cookie = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (header is not null) request.Headers.Add(ApiKeys.Header, header);
        if (cookie is not null) request.Headers.Add("Cookie", cookie);
        return _http.SendAsync(request);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _artifacts.Dispose();
    }
}

/// <summary>Nothing calls out unasked: MassTransit's usage telemetry is off in every host.</summary>
public sealed class NoCallingOutTests
{
    [Fact]
    public void Mass_transit_usage_telemetry_is_disabled()
    {
        using var artifacts = new TempFolder();
        using var host = PipelineRegistration.EmbeddedPipeline(artifacts.Path).Build();
        Assert.False(host.Services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }
}

/// <summary>
/// A coordinator on Redis whose Redis goes away: /health says so, a submission is a 503 with Retry-After (not a bare
/// 500), and both recover when Redis is back with its data (append-only file, as infra/local.sh runs it). Its own
/// redis-server on a free port (the Debian package test.sh installs).
/// </summary>
public sealed class StorageOutageTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Mark(string what) => output.WriteLine($"{_clock.Elapsed.TotalSeconds:F1} s: {what}");

    private readonly TempFolder _folder = new();
    private RedisServer _redis = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _redis = new RedisServer(_folder.Path);
        await _redis.Start();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddEmbeddedPipeline(_folder["artifacts"], new Dictionary<string, string?>
        {
            ["HourNas:Clustering"] = "Redis",
            ["HourNas:ClusterId"] = "outage-" + Guid.NewGuid().ToString("N")[..8],
            ["ConnectionStrings:redis"] = _redis.ConnectionString,
        });
        builder.Services.AddExperimentApi();
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapExperimentApi();
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(_app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };
    }

    [Fact]
    public async Task Health_and_submissions_say_the_store_is_down_and_recover_with_it()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("health")).StatusCode);
        Mark("started");
        _redis.Stop();
        var health = await Poll(() => _http.GetAsync("health"), r => r.StatusCode == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(30), "/health reporting the Redis outage");
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());

        Mark("health unhealthy");
        var submit = await _http.PostAsJsonAsync("experiments",
            new SubmitExperiment("during-outage", Specs.Smoke with { BudgetMFlops = 0.05 }), PipelineJson.Options);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, submit.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(ExperimentApi.RetryAfterSeconds), submit.Headers.RetryAfter?.Delta);
        Assert.Contains("the experiment store is unavailable",
            (await submit.Content.ReadFromJsonAsync<ProblemDetails>())!.Detail);

        Mark("submission refused");
        await _redis.Start();
        await Poll(() => _http.GetAsync("health"), r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30),
            "/health after Redis is back");
        var again = await Poll(
            () => _http.PostAsJsonAsync("experiments",
                new SubmitExperiment("after-outage", Specs.Smoke with { BudgetMFlops = 0.05 }), PipelineJson.Options),
            r => r.StatusCode != HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(60),
                "a submission after the outage");
        Mark("submitted again");
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
    }

    private static async Task<HttpResponseMessage> Poll(Func<Task<HttpResponseMessage>> send,
        Func<HttpResponseMessage, bool> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var response = await send();
            if (done(response)) return response;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{what}: still {(int)response.StatusCode} after {timeout}");
            await Task.Delay(250);
        }
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Mark("stopped");
        _redis.Dispose();
        _folder.Dispose();
    }
}
