using HourNas.Contracts;
using HourNas.Experiments;

namespace HourNas.Experiments.Tests;

/// <summary>Each stage's result starts the next stage's command, built from what the earlier stages found.</summary>
public sealed class CompletionOrderTests(ManualChecks cluster) : IClassFixture<ManualChecks>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task The_stages_run_in_the_declared_order_and_each_command_carries_what_came_before()
    {
        var grain = cluster.Grains.GetGrain<IExperimentGrain>("order");
        await grain.Submit(Events.Spec, null);
        var awaited = new List<bool>();
        foreach (var stage in PipelineStages.All)
            awaited.Add(await grain.OnStageCompleted(Events.For(stage, "order")));

        Assert.Equal(PipelineStages.Sequence.Select(s => s.Command), Sent.Commands("order").Select(c => c.GetType()));
        Assert.All(Sent.Commands("order"), c => Assert.Equal(1, c.Attempt));
        var shrink = Assert.IsType<ShrinkSearchSpace>(Sent.Commands("order")[2]);
        Assert.Equal("k3e1 k5e3", shrink.VitalOperations);
        Assert.Empty(shrink.MemberVitalOperations);  // one budget: no family lists
        var stage2 = Assert.IsType<SearchNonVitalBlocks>(Sent.Commands("order")[3]);
        Assert.Equal("order/stage1/vital-supernet.dat", stage2.VitalSupernet);
        Assert.Equal(
            "k3e1 | k3e3 skip | k5e3 k3e3", Assert.IsType<RetrainArchitecture>(Sent.Commands("order")[4]).Genotype);
        // Only the last stage's result leaves the experiment awaiting its report, still running.
        Assert.Equal([false, false, false, false, true], awaited);
        var state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Running, state.Status);
        Assert.True(state.AwaitsReport);
        Assert.Equal(0.8, state.Stage(PipelineStages.Retrain)!.Metrics[StageMetrics.Top1]);
        Assert.Equal(12.5, state.Stage(PipelineStages.VitalSearch)!.Metrics[StageMetrics.SearchSeconds]);

        await grain.Complete([new ArtifactRef("report", "order/report.md")], DateTimeOffset.UtcNow);
        state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Completed, state.Status);
        Assert.Contains(state.Stage(PipelineStages.Retrain)!.Artifacts, a => a.Name == "report");
        var listed = Assert.Single(
            await cluster.Grains.GetGrain<IExperimentCatalogGrain>(0).List(), e => e.Id == "order");
        Assert.Equal((ExperimentStatus.Completed, 0.8), (listed.Status, listed.Top1));
    }

    [Fact]
    public async Task Submitting_again_is_idempotent_and_another_spec_under_the_id_conflicts()
    {
        var grain = cluster.Grains.GetGrain<IExperimentGrain>("again");
        await grain.Submit(Events.Spec, null);
        await grain.Submit(Events.Spec, null);
        Assert.Single(Sent.Commands("again"));
        await Assert.ThrowsAsync<ExperimentConflictException>(() => grain.Submit(Events.Spec with { Seed = 8 }, null));
    }

    [Fact]
    public async Task A_family_s_members_flow_from_each_stage_into_the_next_command_and_resubmitting_it_is_a_no_op()
    {
        var grain = cluster.Grains.GetGrain<IExperimentGrain>("family");
        var spec = Events.Spec with { BudgetMFlops = null, BudgetsMFlops = [0.2, 0.3] };
        await grain.Submit(spec, null);
        // The same family again, as a copy of the list (the way it arrives over the wire): not a conflict.
        await grain.Submit(spec with { BudgetsMFlops = [.. spec.BudgetsMFlops] }, null);
        await Assert.ThrowsAsync<ExperimentConflictException>(
            () => grain.Submit(spec with { BudgetsMFlops = [0.2, 0.4] }, null));
        await grain.OnStageCompleted(Events.For(PipelineStages.VitalBlocks, "family"));
        await grain.OnStageCompleted((VitalBlocksSearched)Events.For(PipelineStages.VitalSearch, "family") with
        {
            Members = [new(0.2, "k3e1 k5e3", 0.6), new(0.3, "k5e3 k5e3", 0.62)],
        });
        var shrink = Assert.IsType<ShrinkSearchSpace>(Sent.Commands("family")[2]);
        Assert.Equal(["k3e1 k5e3", "k5e3 k5e3"], shrink.MemberVitalOperations);
        await grain.OnStageCompleted(Events.For(PipelineStages.Shrink, "family"));
        var stage2 = Assert.IsType<SearchNonVitalBlocks>(Sent.Commands("family")[3]);
        Assert.Equal(["k3e1 k5e3", "k5e3 k5e3"], stage2.MemberVitalOperations);
        await grain.OnStageCompleted((ArchitectureSearched)Events.For(PipelineStages.NonVitalSearch, "family") with
        {
            Members = [new(0.2, "k3e1 | k3e3 skip | k5e3 k3e3", 0.19, 4000, 0.7), new(0.3, "g2", 0.29, 6000, 0.72)],
        });
        var retrain = Assert.IsType<RetrainArchitecture>(Sent.Commands("family")[4]);
        Assert.Equal(["k3e1 | k3e3 skip | k5e3 k3e3", "g2"], retrain.MemberGenotypes);
        Assert.Equal(5, Sent.Commands("family").Count);
    }
}

/// <summary>A result that is not awaited (a redelivery, another stage's, another attempt's) changes nothing.</summary>
public sealed class DuplicateAndLateEventTests(ManualChecks cluster) : IClassFixture<ManualChecks>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task A_redelivered_result_starts_nothing_twice()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "dup", PipelineStages.Shrink);
        var before = (await grain.Get())!;
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.VitalSearch, "dup")));
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.VitalBlocks, "dup")));
        Assert.Equal(3, Sent.Commands("dup").Count);
        var after = (await grain.Get())!;
        Assert.Equal(before.Stages.Count, after.Stages.Count);
        Assert.Equal(PipelineStages.Shrink, after.CurrentStage);
    }

    [Fact]
    public async Task A_result_from_the_future_or_of_another_attempt_is_ignored()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "late", PipelineStages.VitalSearch);
        await grain.OnStageCompleted(Events.For(PipelineStages.Retrain, "late"));
        await grain.OnStageCompleted(Events.For(PipelineStages.VitalSearch, "late", attempt: 2));
        var state = (await grain.Get())!;
        Assert.Equal(StageStatus.Running, state.Stage(PipelineStages.VitalSearch)!.Status);
        Assert.Null(state.Result);
        Assert.Equal(2, Sent.Commands("late").Count);
    }

    [Fact]
    public async Task Late_history_of_a_completed_stage_is_kept_and_reports_of_another_attempt_are_not()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "progress", PipelineStages.VitalSearch);
        await grain.OnProgress(Events.Progress("progress", PipelineStages.VitalSearch, ProgressPhases.Started));
        await grain.OnProgress(
            Events.Progress("progress", PipelineStages.VitalSearch, ProgressPhases.Epoch, attempt: 2));
        // Vital-blocks is done: its late epoch report is history, a late start is not a start.
        await grain.OnProgress(Events.Progress("progress", PipelineStages.VitalBlocks, ProgressPhases.Epoch));
        await grain.OnProgress(Events.Progress("progress", PipelineStages.VitalBlocks, ProgressPhases.Started));
        var state = (await grain.Get())!;
        Assert.Equal(
            [(PipelineStages.VitalSearch, ProgressPhases.Started), (PipelineStages.VitalBlocks, ProgressPhases.Epoch)],
            state.Progress.Select(p => (p.Stage, p.Phase)));
        Assert.Equal(1, state.Stage(PipelineStages.VitalSearch)!.Starts);
        Assert.Equal(0, state.Stage(PipelineStages.VitalBlocks)!.Starts);
    }
}

/// <summary>A user's cancel ends the experiment and tells the workers; what comes after changes nothing.</summary>
public sealed class CancelTests(ManualChecks cluster) : IClassFixture<ManualChecks>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task A_result_after_a_cancel_is_ignored_and_every_attempt_is_told_to_stop()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "cancel", PipelineStages.VitalSearch);
        await grain.Cancel("user changed their mind");
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.VitalSearch, "cancel")));
        await grain.OnStageCancelled(new StageCancelled
        {
            ExperimentId = "cancel",
            Stage = PipelineStages.VitalSearch,
            Reason = "user changed their mind",
        });

        var state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Cancelled, state.Status);
        Assert.Equal("user changed their mind", state.FailureReason);
        Assert.Equal(StageStatus.Cancelled, state.Stage(PipelineStages.VitalSearch)!.Status);
        Assert.Equal(2, Sent.Commands("cancel").Count);
        var cancel = Assert.Single(Sent.Cancels("cancel"));
        Assert.Null(cancel.UpToAttempt);
        await Assert.ThrowsAsync<ExperimentConflictException>(() => grain.Cancel("again"));
    }

    [Fact]
    public async Task A_cancel_that_does_not_reach_the_broker_is_sent_by_the_next_check()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "cancel-away", PipelineStages.VitalSearch);
        Sent.Refuse("cancel-away");
        await grain.Cancel("stop");
        Assert.Empty(Sent.Cancels("cancel-away"));
        Assert.NotNull((await grain.Get())!.PendingCancel);

        Assert.Equal(CheckOutcome.CancelSent, await grain.Check());
        Assert.Single(Sent.Cancels("cancel-away"));
        Assert.Null((await grain.Get())!.PendingCancel);
        Assert.Equal(CheckOutcome.Nothing, await grain.Check());
    }
}

/// <summary>
/// Tries that fail are recorded; a command's fault ends its attempt: a rejected input fails the experiment, any
/// other fault retries the stage with the next attempt number until the attempts are spent.
/// </summary>
public sealed class FailureTests(ManualChecks cluster) : IClassFixture<ManualChecks>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    private static StageFault Fault(string stage, int attempt, bool rejected, string reason = "disk full") =>
        new(stage, attempt, reason, rejected, "w1");

    [Fact]
    public async Task A_failed_try_is_recorded_once_and_ends_nothing()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "try", PipelineStages.Shrink);
        var failed = new StageFailed { ExperimentId = "try", Stage = PipelineStages.Shrink, Reason = "disk full" };
        await grain.OnStageFailed(failed);
        await grain.OnStageFailed(failed);
        var state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Running, state.Status);
        Assert.Equal(["disk full"], state.Stage(PipelineStages.Shrink)!.Failures);
    }

    [Fact]
    public async Task A_rejected_input_fails_the_experiment_at_once_without_a_retry()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "rejected", PipelineStages.VitalBlocks);
        await grain.OnStageFaulted(Fault(PipelineStages.VitalBlocks, 1, rejected: true, "no architecture fits"));
        var state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Failed, state.Status);
        Assert.Equal("vital-blocks: no architecture fits", state.FailureReason);
        Assert.Single(Sent.Commands("rejected"));
    }

    [Fact]
    public async Task A_fault_retries_the_stage_with_the_next_attempt_and_the_last_attempt_fails_it()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "retry", PipelineStages.Shrink);
        await grain.OnStageFaulted(Fault(PipelineStages.Shrink, 1, rejected: false));

        var retried = Sent.Commands("retry")[^1];
        Assert.IsType<ShrinkSearchSpace>(retried);
        Assert.Equal(2, retried.Attempt);
        var state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Running, state.Status);
        var attempts = state.Stages.Where(s => s.Stage == PipelineStages.Shrink).ToArray();
        Assert.Equal([(1, StageStatus.Failed), (2, StageStatus.Running)], attempts.Select(s => (s.Attempt, s.Status)));
        Assert.Equal(["disk full"], attempts[0].Failures);

        // The first attempt's late result and fault are not the running attempt's.
        await grain.OnStageFaulted(Fault(PipelineStages.Shrink, 1, rejected: false));
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.Shrink, "retry", attempt: 1)));
        Assert.Equal(ExperimentStatus.Running, (await grain.Get())!.Status);

        await grain.OnStageFaulted(Fault(PipelineStages.Shrink, 2, rejected: false, "disk still full"));
        state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Failed, state.Status);
        Assert.Equal("shrink: disk still full (attempt 2 of 2)", state.FailureReason);
        Assert.Equal(4, Sent.Commands("retry").Count);
    }

    [Fact]
    public async Task A_retried_attempt_that_succeeds_carries_the_experiment_on()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "retry-ok", PipelineStages.Shrink);
        await grain.OnStageFaulted(Fault(PipelineStages.Shrink, 1, rejected: false));
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.Shrink, "retry-ok", attempt: 2)));
        var state = (await grain.Get())!;
        Assert.Equal(PipelineStages.NonVitalSearch, state.CurrentStage);
        Assert.Equal(1, Sent.Commands("retry-ok")[^1].Attempt);
    }
}

/// <summary>What the reminder's check repairs after a crash, a broker outage or a silent worker.</summary>
public sealed class RecoveryTests(ManualChecks cluster) : IClassFixture<ManualChecks>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task A_command_the_broker_did_not_take_is_sent_by_the_next_check_and_only_once()
    {
        var grain = cluster.Grains.GetGrain<IExperimentGrain>("unsent");
        Sent.Refuse("unsent");
        var submitted = await grain.Submit(Events.Spec, null);
        Assert.Equal(ExperimentStatus.Running, submitted.Status);
        Assert.Null(submitted.Stage(PipelineStages.VitalBlocks)!.CommandSentAt);
        Assert.Empty(Sent.Commands("unsent"));

        Assert.Equal(CheckOutcome.CommandSent, await grain.Check());
        Assert.Equal(CheckOutcome.Nothing, await grain.Check());
        Assert.IsType<AnalyzeVitalBlocks>(Assert.Single(Sent.Commands("unsent")));
        Assert.NotNull((await grain.Get())!.Stage(PipelineStages.VitalBlocks)!.CommandSentAt);
    }

    [Fact]
    public async Task A_listed_id_without_state_is_taken_off_the_catalog()
    {
        var catalog = cluster.Grains.GetGrain<IExperimentCatalogGrain>(0);
        await catalog.Update(new ExperimentSummary("ghost", "smoke", ExperimentStatus.Running, null,
            DateTimeOffset.UtcNow, null, null));
        Assert.Equal(CheckOutcome.Forgotten, await cluster.Grains.GetGrain<IExperimentGrain>("ghost").Check());
        Assert.DoesNotContain(await catalog.List(), e => e.Id == "ghost");
    }

    [Fact]
    public async Task A_queued_stage_waits_and_a_silent_started_one_is_retried_then_failed()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "silent", PipelineStages.VitalSearch);
        await Task.Delay(ManualChecks.SilenceLimit * 2);
        Assert.Equal(CheckOutcome.Nothing, await grain.Check());  // no worker has started it: queued

        await grain.OnProgress(Events.Progress("silent", PipelineStages.VitalSearch, ProgressPhases.Started));
        Assert.Equal(CheckOutcome.Nothing, await grain.Check());  // it just talked
        await Task.Delay(ManualChecks.SilenceLimit * 2);
        Assert.Equal(CheckOutcome.StageRetried, await grain.Check());
        var cancel = Assert.Single(Sent.Cancels("silent"));
        Assert.Equal(1, cancel.UpToAttempt);  // the hung attempt, not the new one
        Assert.Equal(
            (typeof(SearchVitalBlocks), 2),
            (Sent.Commands("silent")[^1].GetType(), Sent.Commands("silent")[^1].Attempt));
        var state = (await grain.Get())!;
        Assert.StartsWith("no progress report for 00:00:00.2000000", state.Stages[^2].Failures.Single());

        await grain.OnProgress(
            Events.Progress("silent", PipelineStages.VitalSearch, ProgressPhases.Started, attempt: 2));
        await Task.Delay(ManualChecks.SilenceLimit * 2);
        Assert.Equal(CheckOutcome.ExperimentFailed, await grain.Check());
        state = (await grain.Get())!;
        Assert.Equal(ExperimentStatus.Failed, state.Status);
        Assert.StartsWith("stage1: no progress report for", state.FailureReason);
        Assert.EndsWith("(attempt 2 of 2)", state.FailureReason);
        Assert.Equal(2, Sent.Cancels("silent")[^1].UpToAttempt);
    }

    [Fact]
    public async Task A_cancel_of_a_given_up_attempt_that_did_not_go_out_is_sent_while_the_next_attempt_runs()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "silent-away", PipelineStages.VitalSearch);
        await grain.OnProgress(Events.Progress("silent-away", PipelineStages.VitalSearch, ProgressPhases.Started));
        await Task.Delay(ManualChecks.SilenceLimit * 2);
        Sent.RefuseCancel("silent-away");
        Assert.Equal(CheckOutcome.StageRetried, await grain.Check());
        Assert.Empty(Sent.Cancels("silent-away"));
        Assert.Equal(CheckOutcome.CancelSent, await grain.Check());
        Assert.Equal(1, Assert.Single(Sent.Cancels("silent-away")).UpToAttempt);
        Assert.Equal(ExperimentStatus.Running, (await grain.Get())!.Status);
    }
}

/// <summary>A state write that fails leaves nothing half done: the event's redelivery applies it again.</summary>
public sealed class RefusedWriteTests(RefusingStore cluster) : IClassFixture<RefusingStore>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task A_result_whose_write_was_refused_is_applied_when_it_comes_again()
    {
        var grain = await Events.RunUpTo(cluster.Grains, "refused", PipelineStages.Shrink);
        RefusingStorage.Refuse("refused");
        await Assert.ThrowsAnyAsync<Exception>(
            () => grain.OnStageCompleted(Events.For(PipelineStages.Shrink, "refused")));
        // What the store holds: shrink still running, stage 2 not started, no command for it.
        Assert.Equal(PipelineStages.Shrink, (await grain.Get())!.CurrentStage);
        Assert.Equal(3, Sent.Commands("refused").Count);

        // The bus delivers the result again: it completes shrink and starts stage 2 this time.
        Assert.False(await grain.OnStageCompleted(Events.For(PipelineStages.Shrink, "refused")));
        var state = (await grain.Get())!;
        Assert.Equal(PipelineStages.NonVitalSearch, state.CurrentStage);
        Assert.Equal(StageStatus.Completed, state.Stage(PipelineStages.Shrink)!.Status);
        Assert.IsType<SearchNonVitalBlocks>(Sent.Commands("refused")[^1]);
    }
}

/// <summary>The reminder does the checks by itself while an experiment is unfinished.</summary>
public sealed class ReminderTests(WithReminders cluster) : IClassFixture<WithReminders>
{
    private static readonly RecordingSender Sent = RecordingSender.Instance;

    [Fact]
    public async Task The_reminder_sends_a_command_the_broker_refused_without_being_asked()
    {
        var grain = cluster.Grains.GetGrain<IExperimentGrain>("reminded");
        Sent.Refuse("reminded");
        await grain.Submit(Events.Spec, null);
        Assert.Empty(Sent.Commands("reminded"));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (Sent.Commands("reminded").Count == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.IsType<AnalyzeVitalBlocks>(Assert.Single(Sent.Commands("reminded")));
    }
}
