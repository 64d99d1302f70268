using System.Text.Json;
using HourNas.Cli;
using HourNas.Components.Coordinator;
using HourNas.Contracts;
using HourNas.Experiments;

namespace HourNas.Pipeline.Tests;

/// <summary><c>hournas run</c>, the README's first command, on the smoke preset: the summary, the report folder, the exit code.</summary>
public sealed class RunCommandTests
{
    private static (int Exit, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = HournasCli.Run(["run", .. args], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void Run_completes_the_pipeline_writes_the_report_and_trains_stage_1_on_its_own_image_count()
    {
        using var folder = new TempFolder();
        var run = Run("--preset", "smoke", "--out", folder.Path, "--id", "run-1", "--stage1-train-limit", "2000", "--json");
        Assert.True(run.Exit == 0, run.Error);
        var state = JsonSerializer.Deserialize<ExperimentState>(run.Out, PipelineJson.Options)!;
        Assert.Equal(ExperimentStatus.Completed, state.Status);
        Assert.Equal(2000, state.Spec!.VitalSearchTrainLimit);
        Assert.Contains("[stage1] epoch 1/1 done", run.Error);  // live progress on stderr
        // Stage 1 trained on its 2,000-image subset, stage 2 on the preset's 4,000 (less the validation hold-out).
        var (stage1, stage2) = (state.Stage(PipelineStages.VitalSearch)!.Metrics["trainImages"], state.Stage(PipelineStages.NonVitalSearch)!.Metrics["trainImages"]);
        Assert.True(stage1 > 0 && stage1 < 0.6 * stage2, $"stage 1 trained {stage1} images, stage 2 {stage2}");
        foreach (var name in new[] { "genotype.json", "weights.dat", "weights.pth", "stages.csv", "progress.csv", "training-curves.png", "accuracy-vs-flops.svg", "ablation.png" })
            Assert.True(File.Exists(Path.Combine(folder.Path, "run-1", name)), name);
    }

    [Fact]
    public void A_run_that_fails_or_is_refused_exits_1_with_the_reason()
    {
        using var folder = new TempFolder();
        var run = Run("--preset", "smoke", "--out", folder.Path, "--id", "run-bad", "--budget-mflops", "0.05");
        Assert.Equal(HournasCli.Failure, run.Exit);
        Assert.Contains("error: experiment run-bad failed: vital-blocks:", run.Error);
        Assert.Contains("impossible budget", run.Error);

        var badLimit = Run("--preset", "smoke", "--out", folder.Path, "--stage1-train-limit", "0");
        Assert.Equal(HournasCli.Failure, badLimit.Exit);
        Assert.Contains("the stage-1 train limit must be positive, got 0", badLimit.Error);
    }
}
