namespace HourNas.Coordination.Webhooks;

/// <summary>Webhook subscribers and delivery limits: the <c>HourNas:Webhooks</c> section.</summary>
public sealed class WebhookOptions
{
    public const string Section = "HourNas:Webhooks";

    public List<WebhookSubscriber> Subscribers { get; set; } = [];

    /// <summary>
    /// Events kept per subscriber while it does not answer; past this the oldest is dropped and logged.
    /// </summary>
    public int QueueLimit { get; set; } = 10_000;

    /// <summary>
    /// The first wait after a failed delivery; it doubles on every failure, up to <see cref="MaxDelay"/>.
    /// </summary>
    public TimeSpan FirstDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one POST may take.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// One receiver: its URL, the Standard Webhooks signing secret (<c>whsec_</c> and base64, as the standard's
/// libraries make them), and optionally the event types it wants (default: all of <c>LifecycleEvents.All</c>).
/// </summary>
public sealed class WebhookSubscriber
{
    public string Url { get; set; } = "";

    public string Secret { get; set; } = "";

    public List<string>? Events { get; set; }
}
