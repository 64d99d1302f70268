using HourNas.Experiments;
using HourNas.ServiceDefaults;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HourNas.Components.Coordinator;

/// <summary>
/// Closes the gap between an experiment recording a stage as running and that stage's command reaching the broker:
/// a coordinator crash or a broker fault in between would leave the experiment waiting for ever. At start (after a
/// restart) and then every <see cref="PipelineOptions.RecoveryInterval"/>, every unfinished experiment in the catalog is
/// asked to resume, which sends a command that never went out (commands that did go out wait in the broker), and
/// fails an experiment whose started stage has been silent for longer than its limit
/// (<see cref="PipelineOptions.StageSilenceLimit"/>).
/// </summary>
public sealed class ExperimentRecovery(IGrainFactory grains, IOptions<PipelineOptions> options, ILogger<ExperimentRecovery> logger)
    : BackgroundService
{
    /// <summary>
    /// One pass over the catalog; returns how many experiments it acted on (a command sent, a silent stage failed).
    /// </summary>
    public async Task<int> Sweep()
    {
        var sent = 0;
        foreach (var experiment in await grains.GetGrain<IExperimentCatalogGrain>(0).List())
        {
            if (experiment.Status is ExperimentStatus.Submitted or ExperimentStatus.Running
                && await grains.GetGrain<IExperimentGrain>(experiment.Id)
                    .Resume(options.Value.SilenceLimitOf(experiment.CurrentStage)))
                sent++;
        }
        return sent;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.RecoveryInterval == Timeout.InfiniteTimeSpan) return;  // passes only when called
        using var timer = new PeriodicTimer(options.Value.RecoveryInterval);
        do
        {
            try
            {
                if (await Sweep() is > 0 and var sent) logger.LogWarning("Recovery sent {Count} stage command(s) that had not gone out", sent);
            }
            // Whatever stopped this pass (Redis or the broker away, the silo still starting), the next one tries again.
            // (A timeout inside a call can be an OperationCanceledException too: only the host's own stop ends the loop.)
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Recovery pass failed; the next is in {Interval}", options.Value.RecoveryInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
