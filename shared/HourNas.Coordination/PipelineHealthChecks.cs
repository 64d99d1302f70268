using System.Diagnostics.Metrics;
using HourNas.Contracts;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace HourNas.Coordination;

/// <summary>This coordinator's silo is an active member of its cluster: the experiment grains can run here.</summary>
public sealed class SiloHealthCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
        CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {silo.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is {status}"));
    }
}

/// <summary>
/// Messages in the pipeline's RabbitMQ error queues (<c>&lt;queue&gt;_error</c> of every stage queue and of the
/// coordinator's two): a command rejected for bad input lands there by design, anything else is a message nothing will
/// process. Any at all makes the coordinator Degraded, naming each queue and its count; the counts are also served at
/// <c>GET /queues/errors</c> and as the <c>hournas.error_queue.messages</c> gauge.
/// </summary>
public sealed class ErrorQueues : IHealthCheck, IDisposable
{
    public static readonly Meter Meter = new("HourNas.Coordinator");

    private readonly ConnectionFactory? _factory;
    private readonly SemaphoreSlim _one = new(1, 1);
    private IReadOnlyDictionary<string, uint> _last = new Dictionary<string, uint>();

    /// <param name="rabbitmq">The broker's URI; null on the in-memory transport, which has no error queues.</param>
    public ErrorQueues(string? rabbitmq)
    {
        _factory = rabbitmq is null
            ? null
            : new ConnectionFactory { Uri = new Uri(rabbitmq), ClientProvidedName = "hournas-error-queues" };
        Meter.CreateObservableGauge("hournas.error_queue.messages",
            () => _last.Select(q => new Measurement<long>(q.Value, new KeyValuePair<string, object?>("queue", q.Key))),
            description: "messages waiting in each of the pipeline's error queues (as of the last count)");
    }

    /// <summary>The error queues of the pipeline's queues, as MassTransit names them.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        .. PipelineStages.Sequence.Select(s => s.Queue).Append(CoordinatorRegistration.EventsQueue)
            .Append(CoordinatorRegistration.FaultsQueue).Distinct().Select(q => q + "_error"),
    ];

    /// <summary>Messages in each error queue now (a queue that does not exist yet holds none).</summary>
    public async Task<IReadOnlyDictionary<string, uint>> Count(CancellationToken cancellation = default)
    {
        if (_factory is null) return new Dictionary<string, uint>();
        await _one.WaitAsync(cancellation);
        try
        {
            await using var connection = await _factory.CreateConnectionAsync(cancellation);
            var counts = new Dictionary<string, uint>();
            foreach (var queue in Names)
            {
                // A passive declare of a missing queue closes its channel: one channel per queue.
                await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellation);
                try
                {
                    counts[queue] = (await channel.QueueDeclarePassiveAsync(queue, cancellation)).MessageCount;
                }
                catch (OperationInterruptedException)
                {
                    counts[queue] = 0;
                }
            }
            _last = counts;
            return counts;
        }
        finally
        {
            _one.Release();
        }
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
        CancellationToken cancellationToken = default)
    {
        IReadOnlyDictionary<string, uint> counts;
        try
        {
            counts = await Count(cancellationToken);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException)
        {
            return HealthCheckResult.Degraded("the error queues could not be counted: " + e.Message, e);
        }
        var waiting = counts.Where(q => q.Value > 0).ToArray();
        return waiting.Length == 0
            ? HealthCheckResult.Healthy("no message in any error queue")
            : HealthCheckResult.Degraded(
                $"{waiting.Sum(q => q.Value)} message(s) in error queues: " +
                string.Join(", ", waiting.Select(q => $"{q.Key} {q.Value}")),
                data: waiting.ToDictionary(q => q.Key, q => (object)q.Value));
    }

    public void Dispose() => _one.Dispose();
}
