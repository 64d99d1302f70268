using System.Net;
using System.Net.Sockets;

namespace HourNas.ServiceDefaults;

public enum Transport { InMemory, RabbitMQ }

public enum Clustering { Localhost, Redis }

/// <summary>
/// The <c>HourNas</c> configuration section (appsettings, <c>HourNas__*</c> environment variables or command line).
/// Connection strings come from <c>ConnectionStrings:rabbitmq</c> and <c>ConnectionStrings:redis</c>.
/// </summary>
public sealed class PipelineOptions
{
    public const string Section = "HourNas";

    /// <summary>
    /// InMemory: one process (embedded mode). RabbitMQ: services in separate processes (distributed mode).
    /// </summary>
    public Transport Transport { get; set; } = Transport.InMemory;

    /// <summary>
    /// Localhost: one silo, in-memory grain storage. Redis: Redis clustering and grain storage, survives restarts.
    /// </summary>
    public Clustering Clustering { get; set; } = Clustering.Localhost;

    /// <summary>
    /// The address a service listens on when whoever started it named none (no ASPNETCORE_URLS, Urls or --urls).
    /// Each service's appsettings.json gives its own; a plain Urls key there would outrank the ASPNETCORE_URLS that
    /// Aspire and container platforms set.
    /// </summary>
    public string? DefaultUrls { get; set; }

    /// <summary>Root folder of every experiment's artifacts (a shared volume in distributed mode).</summary>
    public string Artifacts { get; set; } = "artifacts";

    /// <summary>
    /// If set, every finished span is appended to this JSON-lines file (a local trace record without a collector).
    /// </summary>
    public string? TraceFile { get; set; }

    /// <summary>
    /// Also trace Orleans calls that start a trace of their own (membership-table reads, timers, state polls). Off by
    /// default: they bury experiments on a dashboard. Orleans calls inside an experiment's or a request's trace are
    /// always traced.
    /// </summary>
    public bool TraceBackgroundCalls { get; set; }

    /// <summary>This process's name in progress reports; default host:pid.</summary>
    public string? Worker { get; set; }

    /// <summary>
    /// Delivery attempts of a stage command on a transient fault (with exponential backoff) before the stage fails.
    /// </summary>
    public int Retries { get; set; } = 3;

    public TimeSpan RetryMinInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Orleans cluster id: silos with the same id (and Redis) form one cluster; a new id starts an empty one.
    /// </summary>
    public string ClusterId { get; set; } = "hournas";

    /// <summary>Orleans silo and gateway ports; 0 picks free ones (embedded runs and tests).</summary>
    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// Redis clustering: the address (IP or host name) other silos and clients reach this coordinator's silo at.
    /// Unset, the silo stays on loopback (one coordinator per machine); set, it listens on every interface and
    /// advertises this.
    /// </summary>
    public string? SiloAddress { get; set; }

    /// <summary>
    /// The silo's advertised address: <see cref="SiloAddress"/> resolved to IPv4, or loopback when unset.
    /// </summary>
    public IPAddress AdvertisedSiloAddress()
    {
        if (string.IsNullOrWhiteSpace(SiloAddress)) return IPAddress.Loopback;
        if (IPAddress.TryParse(SiloAddress, out var ip)) return ip;
        try
        {
            return Dns.GetHostAddresses(SiloAddress).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? throw new InvalidOperationException(
                    $"{Section}:{nameof(SiloAddress)} '{SiloAddress}' has no IPv4 address");
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException(
                $"{Section}:{nameof(SiloAddress)} '{SiloAddress}' is neither an IP address nor a host name " +
                $"that resolves: {e.Message}",
                e);
        }
    }

    /// <summary>
    /// The coordinator writes each retrained experiment's report (CSVs, plots) into its folder before completing it.
    /// </summary>
    public bool WriteReports { get; set; } = true;

    /// <summary>
    /// How long a worker's lease on a running stage lasts without renewal (renewed every third of it). A second
    /// delivery of the stage waits for it; a killed worker's lease lapses after this, and its redelivered command
    /// then runs.
    /// </summary>
    public TimeSpan StageLeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Folders a spec's dataset may lie in (symbolic links resolved before the check). Unset: the artifact root's
    /// <c>data/</c> folder and Debian's dataset folder. Setting it replaces both.
    /// </summary>
    public string[]? DataRoots { get; set; }

    /// <summary>The data roots in effect: <see cref="DataRoots"/> or the defaults.</summary>
    public IReadOnlyList<string> EffectiveDataRoots() =>
        DataRoots is { Length: > 0 } roots ? roots : [Path.Combine(Artifacts, "data"), DebianDatasets];

    /// <summary>Where Debian's dataset packages (dataset-fashion-mnist) install.</summary>
    public const string DebianDatasets = "/usr/share/datasets";

    /// <summary>
    /// Devices the stage workers of this deployment offer; a spec naming another is refused at submission. cuda
    /// also admits cuda:N.
    /// </summary>
    public string[] Devices { get; set; } = ["cpu"];

    /// <summary>
    /// Keys the HTTP API accepts (<c>Authorization: Bearer KEY</c> or <c>X-Api-Key: KEY</c>). Required when the API
    /// listens on anything but loopback: the coordinator refuses to start otherwise.
    /// </summary>
    public string[]? ApiKeys { get; set; }

    public string WorkerName => Worker ?? $"{Environment.MachineName}:{Environment.ProcessId}";
}
