using System.Diagnostics.Metrics;
using HourNas.Experiments;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HourNas.Coordination;

/// <summary>
/// The coordinator's gauges for a monitoring system: experiments by status (<c>hournas.experiments</c>) and, on a
/// broker, each work queue's messages and consumers (<see cref="ErrorQueues"/>). A gauge is read while a scrape
/// waits and must not call a grain or the broker, so this counts every <see cref="Interval"/> in the background.
/// </summary>
public sealed class CoordinatorMetrics(IServiceProvider services, ILogger<CoordinatorMetrics> logger)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    // This host's own meter: a second coordinator in one process (tests restart one) must not report this one's counts.
    private readonly Meter _meter = new("HourNas.Coordinator");
    private IReadOnlyDictionary<ExperimentStatus, int> _experiments = new Dictionary<ExperimentStatus, int>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _meter.CreateObservableGauge("hournas.experiments",
            () => Enum.GetValues<ExperimentStatus>().Select(status => new Measurement<int>(
                _experiments.GetValueOrDefault(status),
                new KeyValuePair<string, object?>("status", status.ToString()))),
            "{experiment}", "experiments in the catalog by status");
        var experiments = services.GetRequiredService<ExperimentService>();
        var queues = services.GetService<ErrorQueues>();
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                _experiments = (await experiments.List()).GroupBy(e => e.Status)
                    .ToDictionary(g => g.Key, g => g.Count());
                if (queues is not null) await queues.CountWork(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // The store or the broker is down: /health says so; the gauges keep their last counts.
                logger.LogDebug(e, "the coordinator's gauges were not refreshed");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }
}
