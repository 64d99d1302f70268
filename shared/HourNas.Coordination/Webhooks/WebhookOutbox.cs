using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using HourNas.Experiments;
using HourNas.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StandardWebhooks;

namespace HourNas.Coordination.Webhooks;

/// <summary>
/// Tells webhook subscribers every lifecycle event: each event becomes a CloudEvent (structured JSON), signed as
/// Standard Webhooks specify (<c>webhook-id</c> = the event's stable id, <c>webhook-timestamp</c>,
/// <c>webhook-signature</c>), and waits as a file in the subscriber's outbox under the artifact root
/// (<c>.webhooks/&lt;subscriber&gt;/</c>) until the subscriber answers 2xx: delivered at least once, in order, also
/// after a coordinator restart. The grain only writes the file; one loop per subscriber POSTs, with exponential
/// backoff while it fails, so a subscriber that is down never slows the pipeline. Past
/// <see cref="WebhookOptions.QueueLimit"/> waiting events the oldest is dropped, and the drop is logged.
/// </summary>
public sealed class WebhookOutbox : BackgroundService, IExperimentEvents
{
    public const string ClientName = "webhooks";

    private static readonly JsonEventFormatter Formatter = new();

    private readonly WebhookOptions _options;
    private readonly IHttpClientFactory _http;
    private readonly ILogger<WebhookOutbox> _logger;
    private readonly Subscription[] _subscriptions;
    private long _sequence = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    public WebhookOutbox(IOptions<WebhookOptions> options, ArtifactStore store, IHttpClientFactory http,
        ILogger<WebhookOutbox> logger)
    {
        _options = options.Value;
        _http = http;
        _logger = logger;
        _subscriptions = [.. _options.Subscribers.Select((s, i) => Subscription.Of(s, i, store.Root))];
    }

    public void Announce(LifecycleEvent e)
    {
        if (_subscriptions.Length == 0) return;
        var body = Formatter.EncodeStructuredModeMessage(ToCloudEvent(e), out _).ToArray();
        foreach (var subscription in _subscriptions.Where(s => s.Wants(e.Type)))
        {
            // One file per event and subscriber; the same event announced again (a redone transition) is one file.
            if (Directory.EnumerateFiles(subscription.Folder, $"*-{e.Id}.json").Any()) continue;
            var name = $"{Interlocked.Increment(ref _sequence):D20}-{e.Id}.json";
            var temporary = Path.Combine(subscription.Folder, name + ".tmp");
            File.WriteAllBytes(temporary, body);
            File.Move(temporary, Path.Combine(subscription.Folder, name));
            DropOverLimit(subscription);
            subscription.Wake.Release();
        }
    }

    /// <summary>Events waiting for a subscriber, oldest first.</summary>
    public static IReadOnlyList<string> Waiting(string folder) =>
        [.. Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal)];

    public static CloudEvent ToCloudEvent(LifecycleEvent e) => new()
    {
        Id = e.Id,
        Type = "hournas." + (e.Type.StartsWith("stage.", StringComparison.Ordinal) ? e.Type : "experiment." + e.Type),
        Source = new Uri($"/experiments/{Uri.EscapeDataString(e.ExperimentId)}", UriKind.Relative),
        Subject = e.Stage,
        Time = e.At,
        DataContentType = "application/json",
        Data = new
        {
            experimentId = e.ExperimentId,
            status = e.Status.ToString(),
            stage = e.Stage,
            attempt = e.Attempt,
            reason = e.Reason,
            top1 = e.Top1,
            genotype = e.Genotype,
        },
    };

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(_subscriptions.Select(s => Deliver(s, stoppingToken)));

    private async Task Deliver(Subscription subscription, CancellationToken stopping)
    {
        var delay = _options.FirstDelay;
        while (!stopping.IsCancellationRequested)
        {
            var next = Waiting(subscription.Folder).FirstOrDefault();
            if (next is null)
            {
                // Woken by a new event; the timeout covers files another coordinator wrote to a shared volume.
                await subscription.Wake.WaitAsync(TimeSpan.FromSeconds(30), stopping).ConfigureAwait(false);
                continue;
            }
            string? failure;
            try
            {
                failure = await Post(subscription, next, stopping);
            }
            catch (FileNotFoundException)
            {
                continue;  // dropped over the limit, or delivered by another coordinator meanwhile
            }
            catch (Exception e)
                when (e is HttpRequestException or TaskCanceledException && !stopping.IsCancellationRequested)
            {
                failure = e.Message;
            }
            if (failure is null)
            {
                File.Delete(next);
                delay = _options.FirstDelay;
                continue;
            }
            _logger.LogWarning("Webhook {Url}: delivery failed ({Failure}); trying again in {Delay}",
                subscription.Url, failure, delay);
            try
            {
                await Task.Delay(delay, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxDelay.Ticks));
        }
    }

    /// <summary>POSTs one waiting event; null when the subscriber took it (2xx), else why not.</summary>
    private async Task<string?> Post(Subscription subscription, string file, CancellationToken stopping)
    {
        var body = await File.ReadAllBytesAsync(file, stopping);
        var id = Path.GetFileNameWithoutExtension(file).Split('-', 2)[1];
        var timestamp = DateTimeOffset.UtcNow;
        var payload = Encoding.UTF8.GetString(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Url)
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/cloudevents+json")
        {
            CharSet = "utf-8",
        };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToUnixTimeSeconds().ToString(
            System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", subscription.Signer.Sign(id, timestamp, payload));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.Timeout);
        using var response = await _http.CreateClient(ClientName).SendAsync(request, timeout.Token);
        return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
    }

    private void DropOverLimit(Subscription subscription)
    {
        var waiting = Waiting(subscription.Folder);
        foreach (var old in waiting.Take(Math.Max(0, waiting.Count - Math.Max(1, _options.QueueLimit))))
        {
            File.Delete(old);
            _logger.LogError(
                "Webhook {Url}: {Limit} events wait (HourNas:Webhooks:QueueLimit); dropped the oldest, {File}",
                subscription.Url, _options.QueueLimit, Path.GetFileName(old));
        }
    }

    public override void Dispose()
    {
        foreach (var s in _subscriptions) s.Wake.Dispose();
        base.Dispose();
    }

    private sealed record Subscription(string Url, StandardWebhook Signer, HashSet<string> Events, string Folder,
        SemaphoreSlim Wake)
    {
        public bool Wants(string type) => Events.Contains(type);

        public static Subscription Of(WebhookSubscriber s, int index, string artifactRoot)
        {
            var what = $"HourNas:Webhooks:Subscribers:{index}";
            if (!Uri.TryCreate(s.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                throw new InvalidOperationException($"{what}:Url must be an absolute http(s) URL, not '{s.Url}'");
            if (!s.Secret.StartsWith("whsec_", StringComparison.Ordinal) || !IsBase64(s.Secret["whsec_".Length..]))
                throw new InvalidOperationException(
                    $"{what}:Secret must be a Standard Webhooks secret: 'whsec_' and base64 (24 to 64 random bytes)");
            var unknown = (s.Events ?? []).Except(LifecycleEvents.All).ToArray();
            if (unknown.Length > 0)
                throw new InvalidOperationException(
                    $"{what}:Events has unknown event(s) {string.Join(", ", unknown)}; known: " +
                    string.Join(", ", LifecycleEvents.All));
            // The folder is named by the URL, so reordering the subscribers keeps each one's waiting events.
            var folder = Path.Combine(artifactRoot, ".webhooks",
                Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url.AbsoluteUri)))[..16]);
            Directory.CreateDirectory(folder);
            return new Subscription(url.AbsoluteUri, new StandardWebhook(s.Secret),
                [.. s.Events is { Count: > 0 } events ? events : LifecycleEvents.All], folder, new SemaphoreSlim(0));
        }

        private static bool IsBase64(string text)
        {
            var bytes = new byte[text.Length];
            return Convert.TryFromBase64String(text, bytes, out var length) && length >= 16;
        }
    }
}
