using System.Text.Json;
using HourNas.Cli;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.Workers;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// <c>hournas run</c>, the README's first command, on the smoke preset: the summary, the report folder, the exit
/// code.
/// </summary>
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
        var run = Run(
            "--preset", "smoke", "--out", folder.Path, "--id", "run-1", "--stage1-train-limit", "2000", "--json");
        Assert.True(run.Exit == 0, run.Error);
        var state = JsonSerializer.Deserialize<ExperimentState>(run.Out, PipelineJson.Options)!;
        Assert.Equal(ExperimentStatus.Completed, state.Status);
        Assert.Equal(2000, state.Spec!.VitalSearchTrainLimit);
        // By default candidates are ranked by validation loss: stage 2 picks the lowest.
        Assert.Equal("loss", state.Spec.RankBy);
        var (pick, candidates) = Stage2(folder.Path);
        Assert.Equal(candidates.Min(c => c.Loss), candidates.Where(c => c.Genotype == pick).Min(c => c.Loss));
        Assert.Contains("[stage1] epoch 1/1 done", run.Error);  // live progress on stderr
        // Stage 1 trained on its 2,000-image subset, stage 2 on the preset's 4,000 (less the validation hold-out).
        var (stage1, stage2) = (
            state.Stage(PipelineStages.VitalSearch)!.Metrics[StageMetrics.TrainImages],
            state.Stage(PipelineStages.NonVitalSearch)!.Metrics[StageMetrics.TrainImages]);
        Assert.True(stage1 > 0 && stage1 < 0.6 * stage2, $"stage 1 trained {stage1} images, stage 2 {stage2}");
        foreach (var name in new[] { "genotype.json", "weights.dat", "weights.pth", "stages.csv", "progress.csv",
                     "training-curves.png", "accuracy-vs-flops.svg", "ablation.png" })
            Assert.True(File.Exists(Path.Combine(folder.Path, "run-1", name)), name);
    }

    /// <summary>
    /// Stage 2's pick and its scored candidates (candidates.csv: accuracy and loss columns) in a run's folder.
    /// </summary>
    private static (string Pick, (string Genotype, double Top1, double Loss)[] Candidates) Stage2(string folder)
    {
        var stage = $"{Path.DirectorySeparatorChar}{PipelineStages.NonVitalSearch}{Path.DirectorySeparatorChar}";
        var csv = Directory.GetFiles(folder, "candidates.csv", SearchOption.AllDirectories)
            .Single(f => f.Contains(stage, StringComparison.Ordinal));
        var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(csv)!, "result.json")));
        var candidates = File.ReadAllLines(csv).Skip(1).Select(line =>
        {
            var cells = line.Split(',');
            double Number(int i) => double.Parse(cells[i], System.Globalization.CultureInfo.InvariantCulture);
            return (line.Split('"')[1], Number(1), Number(4));
        }).ToArray();
        return (result.RootElement.GetProperty("genotype").GetString()!, candidates);
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
        Assert.Contains("the stage-1 train limit must be between 1 and 2,147,483,647, got 0", badLimit.Error);

        var badRerank = Run("--preset", "smoke", "--out", folder.Path, "--rerank", "-1");
        Assert.Equal(HournasCli.Failure, badRerank.Exit);
        Assert.Contains("the number of candidates to re-rank must be between 0 and 1,000, got -1", badRerank.Error);

        var badKernels = Run("--preset", "fashion-mnist", "--out", folder.Path, "--kernels-apart", "10");
        Assert.Equal(HournasCli.Failure, badKernels.Exit);
        Assert.Contains("the blocks with kernels apart (preset 'fashion-mnist' has 9) must be between 0 and 9, got 10",
            badKernels.Error);

        var badRanking = Run("--preset", "smoke", "--out", folder.Path, "--rank-by", "accuracy");
        Assert.Equal(HournasCli.Failure, badRanking.Exit);
        Assert.Contains("rankBy must be 'loss' or 'top1', got 'accuracy'", badRanking.Error);

        foreach (var bad in new[] { "shared", "1", new string('x', 5000) })
        {
            var badSharing = Run("--preset", "smoke", "--out", folder.Path, "--weight-sharing", bad);
            Assert.Equal(HournasCli.Failure, badSharing.Exit);
            Assert.Contains("weight sharing must be 'independent' or 'entangled'", badSharing.Error);
            Assert.True(badSharing.Error.Length < 400, "the refused value is echoed whole");
        }
    }

    [Fact]
    public void The_spec_records_the_weight_sharing_and_the_ranking_its_supernets_used()
    {
        using var folder = new TempFolder();
        var run = Run("--preset", "smoke", "--out", folder.Path, "--id", "run-independent",
            "--weight-sharing", "independent", "--rank-by", "top1", "--no-ablation", "--json");
        Assert.True(run.Exit == 0, run.Error);
        var state = JsonSerializer.Deserialize<ExperimentState>(run.Out, PipelineJson.Options)!;
        Assert.Equal("independent", state.Spec!.WeightSharing);
        Assert.Equal("top1", state.Spec.RankBy);
        // Ranked by top-1, stage 2 picks a candidate with the best validation top-1.
        var (pick, candidates) = Stage2(folder.Path);
        Assert.Equal(candidates.Max(c => c.Top1), candidates.Where(c => c.Genotype == pick).Max(c => c.Top1));
        // Both search supernets the run saved hold one module per candidate (independent), none entangled.
        var supernets = Directory.GetFiles(folder.Path, "*supernet.dat", SearchOption.AllDirectories);
        Assert.Equal(2, supernets.Length);
        Assert.All(supernets, file =>
        {
            var names = SupernetFile.ReadShapes(file).Select(t => t.Name).ToArray();
            Assert.Contains(names, n => n.Contains(".ops.", StringComparison.Ordinal));
            Assert.DoesNotContain(names, n => n.Contains(".shared.", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void A_spec_without_weight_sharing_resolves_to_the_default()
    {
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke" });
        Assert.Equal(new SearchSettings().Sharing.ToString().ToLowerInvariant(), resolved.WeightSharing);
        Assert.Equal(new SearchSettings().Sharing, EngineSettings.Search(resolved).Sharing);
        Assert.Equal(WeightSharing.Independent,
            EngineSettings.Search(resolved with { WeightSharing = "Independent" }).Sharing);
        // The names a spec may give are the engine's.
        Assert.Equal(Enum.GetNames<WeightSharing>().Select(n => n.ToLowerInvariant()).Order(),
            ExperimentSpecs.WeightSharings.Order());
    }

    [Fact]
    public void A_spec_passes_its_reranking_to_stage_2_and_defaults_to_none()
    {
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke" });
        Assert.Equal(ExperimentSpecs.DefaultRerank, resolved.Rerank);
        Assert.Equal(new SearchSettings().Rerank, EngineSettings.Search(resolved).Rerank);
        Assert.Equal(3, EngineSettings.Search(ExperimentSpecs.Resolve(resolved with { Rerank = 3 })).Rerank);
        foreach (var bad in new[] { -1, 1_001 })
        {
            var e = Assert.Throws<SearchSpaceException>(() =>
                ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke", Rerank = bad }));
            Assert.Contains("re-rank", e.Message);
        }
    }

    [Fact]
    public void A_spec_passes_its_kernels_apart_to_the_searches_and_defaults_to_block_0()
    {
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "fashion-mnist" });
        Assert.Equal(1, resolved.KernelsApartBlocks);
        Assert.Equal(new SearchSettings().KernelsApartBlocks, EngineSettings.Search(resolved).KernelsApartBlocks);
        Assert.Equal(0, EngineSettings.Search(ExperimentSpecs.Resolve(resolved with { KernelsApartBlocks = 0 }))
            .KernelsApartBlocks);
        Assert.Equal(9, EngineSettings.Search(ExperimentSpecs.Resolve(resolved with { KernelsApartBlocks = 9 }))
            .KernelsApartBlocks);
        foreach (var bad in new[] { -1, 10 })
        {
            var e = Assert.Throws<SearchSpaceException>(() =>
                ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "fashion-mnist", KernelsApartBlocks = bad }));
            Assert.Contains("kernels apart", e.Message);
            Assert.Contains($"got {bad}", e.Message);
        }
    }

    [Fact]
    public void A_spec_passes_its_ranking_to_the_searches_and_defaults_to_the_loss()
    {
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke" });
        Assert.Equal("loss", resolved.RankBy);
        Assert.Equal(new SearchSettings().RankBy, EngineSettings.Search(resolved).RankBy);
        Assert.Equal(CandidateRanking.Top1,
            EngineSettings.Search(ExperimentSpecs.Resolve(resolved with { RankBy = "TOP1" })).RankBy);
        // The names a spec may give are the engine's.
        Assert.Equal(Enum.GetNames<CandidateRanking>().Select(n => n.ToLowerInvariant()).Order(),
            ExperimentSpecs.Rankings.Order());
        var e = Assert.Throws<SearchSpaceException>(() =>
            ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke", RankBy = new string('x', 5000) }));
        Assert.True(e.Message.Length < 200, "the refused value is echoed whole");
    }

    [Fact]
    public void The_spec_defaults_are_the_engines_defaults()
    {
        // The spec's defaults are stated once for the pipeline; the engine keeps its own for direct callers. They
        // agree.
        var (search, train, spec) = (new SearchSettings(), new TrainSettings(), new ExperimentSpec());
        Assert.Equal(ExperimentSpecs.DefaultSearchEpochs, search.Epochs);
        Assert.Equal(ExperimentSpecs.DefaultValidationImages, search.ValidationImages);
        Assert.Equal(ExperimentSpecs.DefaultRetrainEpochs, train.Epochs);
        Assert.Equal(ExperimentSpecs.DefaultBatchSize, train.BatchSize);
        Assert.Equal(train.LearningRate, spec.LearningRate);
        Assert.Equal(Budget.DefaultMinFraction, spec.MinFraction);
        var resolved = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "smoke" });
        Assert.Equal(search.EvolutionOrDefault.Population, EngineSettings.Search(resolved with { Population = null })
            .EvolutionOrDefault.Population);
    }
}
