using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Coordination.Webhooks;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StandardWebhooks;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// A real local HTTP receiver of webhooks: records every delivery, answers 503 until told to accept.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<(IHeaderDictionary Headers, string Body)> Accepted { get; } = new();

    public int Refused;

    public volatile bool Refusing;

    public string Url { get; }

    private WebhookReceiver(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public static async Task<WebhookReceiver> Start(bool refusing = false, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? receiver = null;
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            if (receiver!.Refusing)
            {
                Interlocked.Increment(ref receiver.Refused);
                return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
            }
            receiver.Accepted.Enqueue((new HeaderDictionary(request.Headers.ToDictionary()), body));
            return Results.NoContent();
        });
        await app.StartAsync();
        receiver = new WebhookReceiver(app, app.Urls.Single() + "/hook") { Refusing = refusing };
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// Every lifecycle event reaches each subscriber as a signed CloudEvent, at least once and in order; a subscriber
/// that refuses gets them when it recovers; one that is down slows nothing, and its events wait, bounded, also
/// across a restart of the coordinator.
/// </summary>
public sealed class WebhookTests
{
    private static readonly string Secret =
        "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("a test secret, 32 bytes long.!!!"));

    private static async Task<WebApplication> Coordinator(TempFolder artifacts, params string[] urls)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var settings = new Dictionary<string, string?>
        {
            [$"{WebhookOptions.Section}:FirstDelay"] = "00:00:00.2",
            [$"{WebhookOptions.Section}:MaxDelay"] = "00:00:01",
        };
        for (var i = 0; i < urls.Length; i++)
        {
            settings[$"{WebhookOptions.Section}:Subscribers:{i}:Url"] = urls[i];
            settings[$"{WebhookOptions.Section}:Subscribers:{i}:Secret"] = Secret;
        }
        builder.AddEmbeddedPipeline(artifacts.Path, settings);
        builder.Services.AddExperimentApi();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapExperimentApi();
        await app.StartAsync();
        return app;
    }

    private static CloudEvent[] Verified(WebhookReceiver receiver)
    {
        var formatter = new JsonEventFormatter();
        var verifier = new StandardWebhook(Secret);
        return
        [
            .. receiver.Accepted.Select(d =>
            {
                verifier.Verify(d.Body, d.Headers);  // throws on a bad signature or a stale timestamp
                var e = formatter.DecodeStructuredModeMessage(Encoding.UTF8.GetBytes(d.Body), null, null);
                Assert.Equal(e.Id, d.Headers["webhook-id"].ToString());
                Assert.StartsWith("application/cloudevents+json", d.Headers.ContentType.ToString());
                return e;
            }),
        ];
    }

    private static async Task<ExperimentState> Run(WebApplication coordinator, string id, ExperimentSpec spec)
    {
        using var http = new HttpClient { BaseAddress = new Uri(coordinator.Urls.Single()) };
        (await http.PostAsJsonAsync("experiments", new SubmitExperiment(id, spec), PipelineJson.Options))
            .EnsureSuccessStatusCode();
        var experiments = coordinator.Services.GetRequiredService<ExperimentService>();
        return await Waits.Until(() => experiments.Get(id), s => s.IsFinished, TimeSpan.FromMinutes(3), id);
    }

    [Fact]
    public async Task Subscribers_get_every_event_signed_a_refusing_one_after_it_recovers_a_dead_one_slows_nothing()
    {
        using var artifacts = new TempFolder();
        await using var healthy = await WebhookReceiver.Start();
        await using var refusing = await WebhookReceiver.Start(refusing: true);
        var dead = $"http://127.0.0.1:{LoopbackPorts.PickFree(1)[0]}/hook";
        await using var coordinator = await Coordinator(artifacts, healthy.Url, refusing.Url, dead);

        var clock = Stopwatch.StartNew();
        var state = await Run(coordinator, "hooks-1", Specs.Smoke);
        Assert.Equal(ExperimentStatus.Completed, state.Status);
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"the smoke run took {clock.Elapsed}");

        string[] expected =
        [
            "hournas.experiment.submitted", .. PipelineStagesNames().Select(_ => "hournas.stage.completed"),
            "hournas.experiment.completed",
        ];
        await Waits.Until(() => Task.FromResult(healthy.Accepted.Count >= expected.Length), TimeSpan.FromSeconds(20),
            "the healthy subscriber receiving every event");
        var events = Verified(healthy);
        Assert.Equal(expected, events.Select(e => e.Type));
        Assert.Equal(PipelineStagesNames(),
            events.Where(e => e.Type == "hournas.stage.completed").Select(e => e.Subject));
        Assert.All(events, e => Assert.Equal("/experiments/hooks-1", e.Source!.ToString()));
        Assert.Equal(events.Length, events.Select(e => e.Id).Distinct().Count());
        var completed = System.Text.Json.JsonDocument.Parse(events[^1].Data!.ToString()!).RootElement;
        Assert.Equal("Completed", completed.GetProperty("status").GetString());
        Assert.InRange(completed.GetProperty("top1").GetDouble(), 0.2, 1.0);

        // The refusing subscriber was tried and kept waiting; once it accepts, it gets the same events in order.
        Assert.True(refusing.Refused > 0);
        Assert.Empty(refusing.Accepted);
        refusing.Refusing = false;
        await Waits.Until(() => Task.FromResult(refusing.Accepted.Count >= expected.Length), TimeSpan.FromSeconds(20),
            "the recovered subscriber receiving every event");
        Assert.Equal(events.Select(e => e.Id), Verified(refusing).Select(e => e.Id));

        // The dead one's events wait in its outbox, in order.
        var outboxes = Directory.GetDirectories(Path.Combine(artifacts.Path, ".webhooks"));
        Assert.Equal(3, outboxes.Length);
        Assert.Contains(outboxes, o => WebhookOutbox.Waiting(o).Count == expected.Length);
        await coordinator.StopAsync();
    }

    [Fact]
    public async Task A_failed_experiment_announces_its_failed_stage_and_its_failure()
    {
        using var artifacts = new TempFolder();
        await using var receiver = await WebhookReceiver.Start();
        await using var coordinator = await Coordinator(artifacts, receiver.Url);
        var state = await Run(coordinator, "hooks-bad", Specs.Smoke with { BudgetMFlops = 0.05 });
        Assert.Equal(ExperimentStatus.Failed, state.Status);
        await Waits.Until(() => Task.FromResult(receiver.Accepted.Count >= 3), TimeSpan.FromSeconds(20),
            "three events");
        var events = Verified(receiver);
        Assert.Equal(
            ["hournas.experiment.submitted", "hournas.stage.failed", "hournas.experiment.failed"],
            events.Select(e => e.Type));
        Assert.Equal("vital-blocks", events[1].Subject);
        Assert.Contains("impossible budget", events[2].Data!.ToString());
        await coordinator.StopAsync();
    }

    [Fact]
    public async Task Waiting_events_survive_a_restart_and_past_the_bound_the_oldest_are_dropped()
    {
        using var artifacts = new TempFolder();
        var port = LoopbackPorts.PickFree(1)[0];
        var options = Options.Create(new WebhookOptions
        {
            Subscribers = [new WebhookSubscriber { Url = $"http://127.0.0.1:{port}/hook", Secret = Secret }],
            QueueLimit = 3,
            FirstDelay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromMilliseconds(300),
        });
        var store = new ArtifactStore(artifacts.Path);
        var http = new ServiceCollection().AddHttpClient().BuildServiceProvider()
            .GetRequiredService<IHttpClientFactory>();
        var state = new ExperimentState { Id = "outbox-1", Status = ExperimentStatus.Running };
        var announced = Enumerable.Range(1, 5)
            .Select(i => LifecycleEvent.Of(state, LifecycleEvents.StageCompleted,
                new StageRecord { Stage = $"stage-{i}", Attempt = 1, StartedAt = DateTimeOffset.UtcNow }, null))
            .ToArray();
        // Nobody listens on the port: the events wait; two are dropped over the bound of three.
        using (var first = new WebhookOutbox(options, store, http, NullLogger<WebhookOutbox>.Instance))
        {
            await first.StartAsync(CancellationToken.None);
            foreach (var e in announced) first.Announce(e);
            first.Announce(announced[^1]);  // the same event again: one copy
            await Task.Delay(500);
            await first.StopAsync(CancellationToken.None);
        }
        var outbox = Directory.GetDirectories(Path.Combine(artifacts.Path, ".webhooks")).Single();
        Assert.Equal(3, WebhookOutbox.Waiting(outbox).Count);

        // A new coordinator (a restart) delivers what waited, oldest first, once the subscriber is up.
        await using var receiver = await WebhookReceiver.Start(port: port);
        using var second = new WebhookOutbox(options, store, http, NullLogger<WebhookOutbox>.Instance);
        await second.StartAsync(CancellationToken.None);
        await Waits.Until(() => Task.FromResult(receiver.Accepted.Count >= 3), TimeSpan.FromSeconds(20),
            "the waiting events delivered after the restart");
        await second.StopAsync(CancellationToken.None);
        Assert.Equal(announced[2..].Select(e => e.Id), Verified(receiver).Select(e => e.Id));
        Assert.Empty(WebhookOutbox.Waiting(outbox));
    }

    private static string[] PipelineStagesNames() => [.. PipelineStages.Sequence.Select(s => s.Name)];
}
