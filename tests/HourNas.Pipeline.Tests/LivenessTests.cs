using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// An embedded pipeline host for one test class, and the state a crash or a silent worker leaves, written straight
/// into grain storage (the grain reads it on activation).
/// </summary>
public abstract class EmbeddedHostTest(IDictionary<string, string?>? settings = null) : IAsyncLifetime
{
    private readonly TempFolder _artifacts = new();

    protected IHost Host { get; private set; } = null!;

    protected T Service<T>() where T : notnull => Host.Services.GetRequiredService<T>();

    public async Task InitializeAsync()
    {
        Host = PipelineRegistration.EmbeddedPipeline(_artifacts.Path, settings).Build();
        await Host.StartAsync();
    }

    /// <summary>Writes the experiment's state and lists it in the catalog as running.</summary>
    protected async Task Write(ExperimentState state)
    {
        var grains = Service<IGrainFactory>();
        await Host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(ExperimentGrain.Storage)
            .WriteStateAsync("experiment", grains.GetGrain<IExperimentGrain>(state.Id).GetGrainId(),
                new GrainState<ExperimentState>(state));
        await grains.GetGrain<IExperimentCatalogGrain>(0).Update(new ExperimentSummary(state.Id,
            state.Spec?.Preset ?? "",
            state.Status, state.CurrentStage, state.SubmittedAt, null, null));
    }

    public async Task DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
        _artifacts.Dispose();
    }
}

/// <summary>
/// A CancelExperiment that did not come from the coordinator ends the experiment instead of leaving it running.
/// </summary>
public sealed class ForeignCancelTests : EmbeddedHostTest
{
    [Fact]
    public async Task A_cancel_published_by_another_client_resolves_the_experiment_as_cancelled_with_the_reason()
    {
        var experiments = Service<ExperimentService>();
        await experiments.Submit("foreign", Specs.Smoke with { SearchEpochs = 20 });
        await Waits.Until(() => experiments.Get("foreign"),
            s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch && p.Phase == ProgressPhases.Train),
            TimeSpan.FromMinutes(2), "stage 1 of 'foreign' training");

        // What anyone with broker access can do: the coordinator never hears of it.
        await Service<IBus>().Publish(new CancelExperiment { ExperimentId = "foreign", Reason = "from a script" });

        var ended = await Waits.Until(() => experiments.Get("foreign"), s => s.IsFinished, TimeSpan.FromMinutes(1),
            "'foreign' ending");
        Assert.Equal(ExperimentStatus.Cancelled, ended.Status);
        Assert.StartsWith($"{PipelineStages.VitalSearch}: stopped by a CancelExperiment message " +
            "that did not come from the coordinator",
            ended.FailureReason);
        Assert.Contains("'from a script'", ended.FailureReason);
        Assert.Equal(StageStatus.Cancelled, ended.Stage(PipelineStages.VitalSearch)!.Status);
        Assert.Equal(ExperimentStatus.Cancelled, (await experiments.List()).Single(e => e.Id == "foreign").Status);
    }

}

/// <summary>Progress is kept once per stage, phase, epoch and step, whatever the bus delivers twice.</summary>
// No recovery passes: the experiment below stays as written, its stage running.
public sealed class ProgressIdempotencyTests()
    : EmbeddedHostTest(new Dictionary<string, string?> { ["HourNas:RecoveryInterval"] = "-00:00:00.001" })
{
    private static StageProgressed Report(string phase, int epoch, int step, double seconds) => new()
    {
        ExperimentId = "dup",
        Stage = PipelineStages.VitalSearch,
        Phase = phase,
        Epoch = epoch,
        Epochs = 3,
        Step = step,
        Steps = 100,
        Loss = 1,
        Accuracy = 0.5,
        ImagesPerSecond = 1000,
        Seconds = seconds,
        Worker = "w1",
    };

    [Fact]
    public async Task A_redelivered_report_is_kept_once_and_a_resumed_step_replaces_the_old_point()
    {
        var now = DateTimeOffset.UtcNow;
        await Write(new ExperimentState
        {
            Id = "dup",
            Spec = ExperimentSpecs.Resolve(Specs.Smoke),
            Status = ExperimentStatus.Running,
            SubmittedAt = now,
            CurrentStage = PipelineStages.VitalSearch,
            Stages =
            {
                new StageRecord { Stage = PipelineStages.VitalBlocks, Status = StageStatus.Completed, StartedAt = now,
                    EndedAt = now },
                new StageRecord { Stage = PipelineStages.VitalSearch, StartedAt = now, CommandSentAt = now },
            },
        });
        var grain = Service<IGrainFactory>().GetGrain<IExperimentGrain>("dup");

        foreach (var report in new[]
                 {
                     Report("started", 0, 0, 0), Report("started", 0, 0, 0),
                     Report("train", 1, 50, 10), Report("train", 1, 50, 10),
                     Report("epoch", 1, 100, 20), Report("epoch", 1, 100, 20), Report("epoch", 1, 100, 20),
                     // The worker crashed in epoch 2 and resumed from epoch 1's checkpoint: a new start, epoch 2 again.
                     Report("train", 2, 50, 30), Report("started", 1, 0, 35), Report("train", 2, 50, 45),
                 })
            await grain.OnProgress(report);

        var state = (await grain.Get())!;
        var stage = state.Stage(PipelineStages.VitalSearch)!;
        Assert.Equal(2, stage.Starts);
        Assert.Equal(1, stage.ResumedFromEpoch);
        Assert.Equal(2, state.Progress.Count(p => p.Phase == ProgressPhases.Started));
        Assert.Single(state.Progress, p => p.Phase == ProgressPhases.Epoch);
        Assert.Equal([10.0, 45.0], state.Progress.Where(p => p.Phase == ProgressPhases.Train).Select(p => p.Seconds));
    }

}

/// <summary>
/// A started stage that stops reporting fails its experiment once its silence limit passes (its one attempt spent);
/// a queued one waits.
/// </summary>
public sealed class SilentStageTests() : EmbeddedHostTest(new Dictionary<string, string?>
{
    ["HourNas:RecoveryInterval"] = "-00:00:00.001",
    ["HourNas:StageAttempts"] = "1",
    ["HourNas:StageSilenceLimit"] = "00:01:00",
    ["HourNas:StageSilenceLimits:retrain"] = "01:00:00",
})
{
    private Task Write(string id, string stage, int starts, TimeSpan lastReportAgo)
    {
        var now = DateTimeOffset.UtcNow;
        return Write(new ExperimentState
        {
            Id = id,
            Spec = ExperimentSpecs.Resolve(Specs.Smoke),
            Status = ExperimentStatus.Running,
            SubmittedAt = now.AddHours(-2),
            CurrentStage = stage,
            Stages = { new StageRecord { Stage = stage, StartedAt = now.AddHours(-2), CommandSentAt = now.AddHours(-2),
                Starts = starts, Workers = { "w7" } } },
            Progress = { new ProgressPoint(stage, ProgressPhases.Started, 0, 0, 10, double.NaN, double.NaN, 0, 0,
                now - lastReportAgo) },
        });
    }

    [Fact]
    public async Task A_check_fails_only_the_started_stage_past_its_limit()
    {
        await Write("silent", PipelineStages.VitalSearch, starts: 1, lastReportAgo: TimeSpan.FromMinutes(10));
        await Write("talking", PipelineStages.VitalSearch, starts: 1, lastReportAgo: TimeSpan.FromSeconds(5));
        await Write("queued", PipelineStages.VitalSearch, starts: 0, lastReportAgo: TimeSpan.FromMinutes(10));
        await Write("long-retrain", PipelineStages.Retrain, starts: 1, lastReportAgo: TimeSpan.FromMinutes(10));

        var grains = Service<IGrainFactory>();
        async Task<CheckOutcome[]> CheckAll() => await Task.WhenAll(
            new[] { "silent", "talking", "queued", "long-retrain" }
                .Select(id => grains.GetGrain<IExperimentGrain>(id).Check()));
        Assert.Equal([CheckOutcome.ExperimentFailed, CheckOutcome.Nothing, CheckOutcome.Nothing, CheckOutcome.Nothing],
            await CheckAll());
        var experiments = Service<ExperimentService>();
        var silent = (await experiments.Get("silent"))!;
        Assert.Equal(ExperimentStatus.Failed, silent.Status);
        Assert.StartsWith($"{PipelineStages.VitalSearch}: no progress report for 00:01:00 (HourNas:StageSilenceLimit)",
            silent.FailureReason);
        Assert.Contains("from w7", silent.FailureReason);
        Assert.Equal(StageStatus.Failed, silent.Stage(PipelineStages.VitalSearch)!.Status);
        foreach (var id in new[] { "talking", "queued", "long-retrain" })
            Assert.Equal(ExperimentStatus.Running, (await experiments.Get(id))!.Status);
        Assert.All(await CheckAll(), o => Assert.Equal(CheckOutcome.Nothing, o));
    }

}
