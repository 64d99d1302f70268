namespace HourNas.Cli.Tests;

public class StageCommandTests
{
    private static string TempOut() => Path.Combine(Path.GetTempPath(), $"hournas-cli-{Guid.NewGuid():N}");

    [Fact]
    public void Retrain_runs_on_a_small_subset_and_prints_json()
    {
        var outDir = TempOut();
        try
        {
            var r = CliRunner.Run("stage", "retrain", "--preset", "fashion-mnist", "--genotype", "manual", "--epochs",
                "1", "--train-limit", "1024", "--batch-size", "32", "--out", outDir, "--json");
            Assert.True(r.ExitCode == 0, r.Error);
            Assert.InRange(r.Json.GetProperty("top1").GetDouble(), 0.3, 1.0);
            Assert.Equal(100_378, r.Json.GetProperty("params").GetInt64());
            Assert.Contains("[retrain] epoch 1/1", r.Error); // progress goes to stderr, so stdout stays JSON
            Assert.True(File.Exists(Path.Combine(outDir, "weights.pth")));
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }

    [Fact]
    public void Stage2_takes_its_vital_choices_from_a_stage1_folder()
    {
        var root = TempOut();
        try
        {
            string[] common =
            [
                "--preset", "fashion-mnist", "-b", "2.5", "--epochs", "1", "--train-limit", "512", "--population", "3",
                "--generations", "1", "--validation-images", "100",
            ];
            var s1 = CliRunner.Run(["stage", "stage1", .. common, "--out", Path.Combine(root, "s1"), "--json"]);
            Assert.True(s1.ExitCode == 0, s1.Error);
            var vital = s1.Json.GetProperty("vitalOperations").GetString()!.Split(' ');
            var s2 = CliRunner.Run(
                [
                    "stage", "stage2", .. common, "--from", Path.Combine(root, "s1"), "--out", Path.Combine(root, "s2"),
                    "--json",
                ]);
            Assert.True(s2.ExitCode == 0, s2.Error);
            var blocks = s2.Json.GetProperty("genotype").GetString()!.Replace("|", " ")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(vital, new[] { 0, 1, 4, 7 }.Select(b => blocks[b]));
            Assert.InRange(s2.Json.GetProperty("mFlops").GetDouble(), 2.25, 2.5);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    [Theory]
    [InlineData("needs a budget: --budget-mflops", "stage", "stage1", "--preset", "fashion-mnist")]
    [InlineData("needs --genotype", "stage", "retrain", "--preset", "fashion-mnist")]
    [InlineData("does not exist", "stage", "retrain", "--preset", "fashion-mnist", "--genotype", "manual",
        "--data", "/nonexistent/fmnist")]
    [InlineData("CUDA is not available", "stage", "retrain", "--preset", "fashion-mnist", "--genotype", "manual",
        "--device", "cuda")]
    [InlineData("no stage-1 result.json", "stage", "stage2", "--preset", "fashion-mnist", "-b", "2.5",
        "--from", "/nonexistent/s1")]
    [InlineData("no dataset folder given", "stage", "retrain", "--preset", "cifar10", "--genotype", "manual")]
    [InlineData("--kernels-apart must be in [0, 9] for preset 'fashion-mnist', got 10", "stage", "stage1",
        "--preset", "fashion-mnist", "-b", "2.0", "--kernels-apart", "10")]
    [InlineData("--kernels-apart must be in [0, 9] for preset 'fashion-mnist', got -1", "stage", "spos",
        "--preset", "fashion-mnist", "-b", "2.0", "--kernels-apart", "-1")]
    public void Bad_stage_input_is_a_clear_error(string expected, params string[] args)
    {
        var r = CliRunner.Run([.. args, "--out", TempOut()]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Out);
        Assert.Contains(expected, r.Error);
    }

    [Fact]
    public void An_unknown_stage_name_is_refused_by_the_parser()
    {
        var r = CliRunner.Run("stage", "stage3", "--preset", "fashion-mnist");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("stage3", r.Error);
    }
}
