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
    private IReadOnlyDictionary<string, (uint Messages, uint Consumers)> _work =
        new Dictionary<string, (uint, uint)>();

    /// <param name="rabbitmq">The broker's URI; null on the in-memory transport, which has no error queues.</param>
    public ErrorQueues(string? rabbitmq)
    {
        _factory = rabbitmq is null
            ? null
            : new ConnectionFactory { Uri = new Uri(rabbitmq), ClientProvidedName = "hournas-error-queues" };
        Meter.CreateObservableGauge("hournas.error_queue.messages",
            () => _last.Select(q => new Measurement<long>(q.Value, Queue(q.Key))),
            description: "messages waiting in each of the pipeline's error queues (as of the last count)");
        Meter.CreateObservableGauge("hournas.queue.messages",
            () => _work.Select(q => new Measurement<long>(q.Value.Messages, Queue(q.Key))),
            description: "messages waiting in each of the pipeline's work queues (as of the last count)");
        Meter.CreateObservableGauge("hournas.queue.consumers",
            () => _work.Select(q => new Measurement<long>(q.Value.Consumers, Queue(q.Key))),
            description: "consumers (worker connections) on each of the pipeline's work queues");
    }

    /// <summary>The error queues of the pipeline's queues, as MassTransit names them.</summary>
    public static IReadOnlyList<string> Names => [.. WorkQueues.Select(q => q + "_error")];

    /// <summary>The pipeline's work queues: one per stage command, and the coordinator's two.</summary>
    public static IReadOnlyList<string> WorkQueues { get; } =
    [
        .. PipelineStages.Sequence.Select(s => s.Queue).Append(CoordinatorRegistration.EventsQueue)
            .Append(CoordinatorRegistration.FaultsQueue).Distinct(),
    ];

    /// <summary>Messages in each error queue now (a queue that does not exist yet holds none).</summary>
    public async Task<IReadOnlyDictionary<string, uint>> Count(CancellationToken cancellation = default)
    {
        var counts = (await Inspect(Names, cancellation)).ToDictionary(q => q.Key, q => q.Value.Messages);
        _last = counts;
        return counts;
    }

    /// <summary>
    /// Messages waiting in each work queue and the consumers attached to it (the workers of a stage, each with
    /// its prefetch): <c>hournas.queue.messages</c> and <c>hournas.queue.consumers</c>.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, (uint Messages, uint Consumers)>> CountWork(
        CancellationToken cancellation = default)
    {
        var counts = await Inspect(WorkQueues, cancellation);
        _work = counts;
        return counts;
    }

    private async Task<IReadOnlyDictionary<string, (uint Messages, uint Consumers)>> Inspect(
        IReadOnlyList<string> queues, CancellationToken cancellation)
    {
        if (_factory is null) return new Dictionary<string, (uint, uint)>();
        await _one.WaitAsync(cancellation);
        try
        {
            await using var connection = await _factory.CreateConnectionAsync(cancellation);
            var counts = new Dictionary<string, (uint, uint)>();
            foreach (var queue in queues)
            {
                // A passive declare of a missing queue closes its channel: one channel per queue.
                await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellation);
                try
                {
                    var ok = await channel.QueueDeclarePassiveAsync(queue, cancellation);
                    counts[queue] = (ok.MessageCount, ok.ConsumerCount);
                }
                catch (OperationInterruptedException)
                {
                    counts[queue] = (0, 0);
                }
            }
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

    private static KeyValuePair<string, object?> Queue(string name) => new("queue", name);

    public void Dispose() => _one.Dispose();
}
