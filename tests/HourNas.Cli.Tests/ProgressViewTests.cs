using HourNas.Contracts;
using HourNas.Experiments;
using Spectre.Console;

namespace HourNas.Cli.Tests;

/// <summary>The live display's lines: progress, speed, elapsed and remaining time, best candidate, per stage.</summary>
public sealed class ProgressViewTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 6, 0, 0, TimeSpan.Zero);

    private static ExperimentState Running()
    {
        var state = new ExperimentState { Id = "live-1", Status = ExperimentStatus.Running, CurrentStage = "stage1" };
        state.Stages.Add(new StageRecord
        {
            Stage = "vital-blocks",
            Status = StageStatus.Completed,
            StartedAt = T0,
            EndedAt = T0.AddSeconds(2),
        });
        state.Stages.Add(new StageRecord
        {
            Stage = "stage1",
            StartedAt = T0.AddSeconds(2),
            ReceivedAt = T0.AddSeconds(10),
            Starts = 1,
        });
        // Epoch 2 of 4, half way: 3/8 of the stage done after 30 s of work.
        state.Progress.Add(new ProgressPoint("stage1", ProgressPhases.Train, 2, 50, 100, 1.2, 0.6, 3000,
            25, T0.AddSeconds(40), 4));
        state.Progress.Add(new ProgressPoint("stage1", ProgressPhases.Search, 1, 3, 10, double.NaN, 0.71, 0,
            26, T0.AddSeconds(40), 1));
        state.Progress.Add(new ProgressPoint("stage1", ProgressPhases.Search, 1, 4, 10, double.NaN, 0.65, 0,
            27, T0.AddSeconds(40), 1));
        return state;
    }

    [Fact]
    public void A_running_stage_shows_how_far_it_is_how_long_it_has_left_and_its_best_candidate()
    {
        var lines = ProgressView.Lines(Running(), T0.AddSeconds(40));
        Assert.Equal(PipelineStages.Sequence.Select(s => s.Name), lines.Select(l => l.Stage));
        var vital = lines[0];
        Assert.Equal(("completed", 1.0, TimeSpan.FromSeconds(2)), (vital.Status, vital.Done, vital.Elapsed));
        var stage1 = lines[1];
        // The last report with steps is the search's 4th of 10 candidates.
        Assert.Equal("candidate 4/10", stage1.Position);
        Assert.Equal(0.4, stage1.Done, 6);
        // Elapsed from the moment a worker took it (10 s), not from the queueing.
        Assert.Equal(TimeSpan.FromSeconds(30), stage1.Elapsed);
        Assert.Equal(TimeSpan.FromSeconds(45), stage1.Remaining);
        Assert.Equal(3000, stage1.ImagesPerSecond);
        Assert.Equal(0.71, stage1.Best);
        Assert.All(lines.Skip(2), l => Assert.Equal("waiting", l.Status));
    }

    [Fact]
    public void The_rendered_table_has_a_bar_per_stage()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        console.Profile.Width = 160;
        console.Write(ProgressView.Render(Running(), T0.AddSeconds(40)));
        var text = output.ToString();
        Assert.Contains("experiment live-1: running", text);
        Assert.True(text.Contains("████████░░░░░░░░░░░░ 40 %"), text);
        Assert.Contains("candidate 4/10", text);
        Assert.Contains("3,000", text);
        Assert.Contains("71.00 %", text);
        Assert.Contains("00:45", text);
    }
}
