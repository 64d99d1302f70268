using HourNas.Components;
using HourNas.Components.Coordinator;
using HourNas.Contracts;
using HourNas.Experiments;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HourNas.Pipeline.Tests;

/// <summary>A CancelExperiment that did not come from the coordinator ends the experiment instead of leaving it running.</summary>
public sealed class ForeignCancelTests : IAsyncLifetime
{
    private readonly TempFolder _artifacts = new();
    private IHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = PipelineRegistration.EmbeddedPipeline(_artifacts.Path).Build();
        await _host.StartAsync();
    }

    [Fact]
    public async Task A_cancel_published_by_another_client_resolves_the_experiment_as_cancelled_with_the_reason()
    {
        var experiments = _host.Services.GetRequiredService<ExperimentService>();
        await experiments.Submit("foreign", Specs.Smoke with { SearchEpochs = 20 });
        await Waits.Until(() => experiments.Get("foreign"),
            s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch && p.Phase == "train"),
            TimeSpan.FromMinutes(2), "stage 1 of 'foreign' training");

        // What anyone with broker access can do: the coordinator never hears of it.
        await _host.Services.GetRequiredService<IBus>().Publish(new CancelExperiment { ExperimentId = "foreign", Reason = "from a script" });

        var ended = await Waits.Until(() => experiments.Get("foreign"), s => s.IsFinished, TimeSpan.FromMinutes(1), "'foreign' ending");
        Assert.Equal(ExperimentStatus.Cancelled, ended.Status);
        Assert.StartsWith($"{PipelineStages.VitalSearch}: stopped by a CancelExperiment message that did not come from the coordinator",
            ended.FailureReason);
        Assert.Contains("'from a script'", ended.FailureReason);
        Assert.Equal(StageStatus.Cancelled, ended.Stage(PipelineStages.VitalSearch)!.Status);
        Assert.Equal(ExperimentStatus.Cancelled, (await experiments.List()).Single(e => e.Id == "foreign").Status);
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        _artifacts.Dispose();
    }
}
