using System.Text.Json;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.SearchSpace;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

[Collection(FashionMnistCollection.Name)]
public class StageTests(FashionMnistFixture fx)
{
    private static readonly SearchSettings TinySearch = new(
        Epochs: 1, ValidationImages: 200, BatchNormBatches: 2, RandomCandidates: 2,
        Evolution: new EvolutionSettings(Population: 4, Generations: 1, Parents: 2, Mutations: 2, Crossovers: 2));

    private StageContext Context(TempFolder dir, string name, ulong seed = 0) =>
        new(fx.Device, fx.Data, dir.File(name), seed, FashionMnistFixture.Tiny(), trainLimit: 640);

    private static readonly Budget Window = Budget.FromMFlops(2.5);

    [Fact]
    public void Stage1_then_stage2_then_retrain_produce_a_budgeted_network()
    {
        using var dir = new TempFolder();
        var s1 = HourNasStages.SearchVitalBlocks(Context(dir, "s1"), fx.Space, Window, TinySearch);
        Assert.Equal([0, 1, 4, 7], s1.VitalBlocks);
        Assert.InRange(s1.Evaluated.Count, 1, TinySearch.EvolutionOrDefault.MaxEvaluations);
        Assert.True(File.Exists(s1.SupernetWeights));
        Assert.True(File.Exists(dir.File("s1/candidates.csv")));
        // Ranked by validation loss (the default), reported by the pick's top-1.
        var leastLoss = s1.Evaluated.MinBy(e => e.Loss)!;
        Assert.Equal((leastLoss.Genotype, leastLoss.Accuracy), (s1.VitalOperations, s1.ValidationAccuracy));

        var vital = Presets.ResolveVitalChoices(fx.Space, s1.VitalOperations);
        // Stage 1 must leave the bulbs a real search (MinBulbShare of their space inside the window; 10% slack for the
        // rounded count stage 1 uses).
        var bulbs = SpaceShrinker.Shrink(fx.Space, Window, vital);
        Assert.True((double)bulbs.ArchitecturesInWindow >= 0.9 * TinySearch.MinBulbShare * (double)bulbs.SpaceSize,
            $"{bulbs.ArchitecturesInWindow} of {bulbs.SpaceSize} bulb architectures in the window");
        var s2 = HourNasStages.SearchNonVitalBlocks(Context(dir, "s2"), fx.Space, Window, vital, s1.SupernetWeights,
            TinySearch);
        var genotype = fx.Space.Parse(s2.Genotype);
        Assert.All(vital, kv => Assert.Equal(kv.Value, genotype.Blocks[kv.Key]));
        Assert.True(Window.Contains(fx.Space.Costs.Of(genotype).Total), $"{s2.MFlops} MFLOPs outside {Window}");
        Assert.All(s2.Evaluated,
            e => Assert.True(Window.Contains(new Cost((long)Math.Round(e.MFlops * 1e6), e.Params))));
        Assert.True(s2.Cost.TrainImages > 0 && s2.Cost.EvalImages > 0 && s2.Cost.Seconds > 0);
        var (fromFile, preset) = Genotype.FromJson(File.ReadAllText(dir.File("s2/genotype.json")), "genotype.json");
        Assert.Equal(genotype, fromFile);
        Assert.Equal("fashion-mnist", preset);

        // Enough steps (60) for the retrained network to learn past chance.
        var retrainContext = new StageContext(fx.Device, fx.Data, dir.File("retrain"), 0,
            FashionMnistFixture.Tiny() with { BatchSize = 32 }, 2000);
        var retrained = HourNasStages.Retrain(retrainContext, fx.Space, genotype);
        Assert.InRange(retrained.Top1, 0.3, 1.0);
        Assert.True(retrained.Top5 >= retrained.Top1);
        Assert.True(retrained.LatencyMilliseconds > 0);
        Assert.Equal(fx.Space.Costs.Of(genotype).Total.Params, retrained.Params);
    }

    [Fact]
    public void Exported_weights_load_back_into_an_identical_network_in_both_formats()
    {
        using var dir = new TempFolder();
        var genotype = fx.Space.Parse("k3e1 | k3e6 skip skip | k5e3 k3e3 skip | k3e6 skip");
        var result = HourNasStages.Retrain(Context(dir, "r"), fx.Space, genotype);
        manual_seed(7);
        using var original = SuperNet.Child(fx.Space, genotype);
        original.load(result.Weights);
        original.eval();
        manual_seed(8);
        using var fromPyTorch = SuperNet.Child(fx.Space, genotype);
        // The PyTorch file also holds the input normalisation (ModelExportTests), so it loads non-strictly here.
        fromPyTorch.load_py(result.PyTorchWeights, strict: false);
        fromPyTorch.eval();
        using var x = randn(3, 1, 28, 28);
        using var a = original.call(x);
        using var b = fromPyTorch.call(x);
        Assert.True(a.allclose(b));
        var json = JsonDocument.Parse(File.ReadAllText(dir.File("r/result.json"))).RootElement;
        Assert.Equal(result.Top1, json.GetProperty("top1").GetDouble());
    }

    [Fact]
    public void Baselines_search_inside_the_same_window()
    {
        using var dir = new TempFolder();
        var spos = HourNasStages.SearchSpos(Context(dir, "spos"), fx.Space, Window, TinySearch);
        var random = HourNasStages.SearchRandom(Context(dir, "random"), fx.Space, Window, TinySearch);
        foreach (var r in new[] { spos, random })
        {
            Assert.True(Window.Contains(fx.Space.Costs.Of(fx.Space.Parse(r.Genotype)).Total));
            Assert.NotEmpty(r.Evaluated);
        }
        // SPOS ranks its supernet's candidates by validation loss, random search its short-trained ones by top-1.
        Assert.Equal(spos.Evaluated.MinBy(e => e.Loss)!.Genotype, spos.Genotype);
        Assert.Equal(random.ValidationAccuracy, random.Evaluated.Max(e => e.Accuracy));
        Assert.Equal("spos", spos.Method);
        Assert.InRange(random.Evaluated.Count, 1, 2);
        Assert.True(random.Cost.TrainImages >= random.Evaluated.Count * 64);
    }

    [Fact]
    public void Ablation_reports_every_block_and_a_vital_block_collapses_accuracy()
    {
        using var dir = new TempFolder();
        var genotype = fx.Space.Parse("k3e1 | k3e3 k3e3 skip | k3e3 k3e3 skip | k3e3 k3e3");
        var reports = new List<Training.Progress>();
        var ctx = new Stages.StageContext(fx.Device, fx.Data, dir.File("a"), 0, FashionMnistFixture.Tiny(2),
            trainLimit: 3000,
            progress: reports.Add);
        var result = HourNasStages.Ablate(ctx, fx.Space, genotype, weights: null);
        Assert.Equal(genotype.Blocks.Count(o => !o.IsSkip), result.Blocks.Count);
        // Progress counts the blocks that can be disabled (skips have nothing to disable): 1/7 ... 7/7.
        var ablated = reports.Where(p => p.Phase == "ablate").ToArray();
        Assert.Equal(Enumerable.Range(1, result.Blocks.Count), ablated.Select(p => p.Step));
        Assert.All(ablated, p => Assert.Equal(result.Blocks.Count, p.Steps));
        Assert.InRange(result.BaselineTop1, 0.5, 1.0);
        var vital = result.Blocks.Where(b => b.Vital).ToArray();
        Assert.Equal([0, 1, 4, 7], vital.Select(b => b.Block));
        // Zeroing a block every path passes through leaves the head a constant: one class for all images.
        Assert.All(vital.Where(b => b.Block > 0), b => Assert.InRange(b.Top1, 0, 0.2));
        Assert.True(File.Exists(dir.File("a/ablation.csv")));
    }

    [Fact]
    public void The_same_seed_gives_the_same_search()
    {
        using var dir = new TempFolder();
        var a = HourNasStages.SearchSpos(Context(dir, "a", seed: 3), fx.Space, Window, TinySearch);
        var b = HourNasStages.SearchSpos(Context(dir, "b", seed: 3), fx.Space, Window, TinySearch);
        Assert.Equal(a.Evaluated.Select(e => (e.Genotype, e.Accuracy)),
            b.Evaluated.Select(e => (e.Genotype, e.Accuracy)));
        Assert.Equal(a.Genotype, b.Genotype);
    }

    [Fact]
    public void An_impossible_budget_fails_before_any_training()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<SearchSpaceException>(() =>
            HourNasStages.SearchVitalBlocks(Context(dir, "x"), fx.Space, Budget.FromMFlops(0.1), TinySearch));
        Assert.Contains("impossible budget", e.Message);
        Assert.False(File.Exists(dir.File("x/vital-supernet.dat")));
    }

    [Fact]
    public void Balanced_families_train_the_no_expansion_candidates_on_more_steps_in_every_supernet()
    {
        using var dir = new TempFolder();
        // Batches of 16 over 640 images: 40 paths per run, enough to tell a share of 1/3 from one of 1/2.
        StageContext Small(string name) => new(fx.Device, fx.Data, dir.File(name), 0,
            FashionMnistFixture.Tiny() with { BatchSize = 16 }, trainLimit: 640);
        var balanced = TinySearch with { BalanceFamilies = true };
        var style = fx.Space.Skeleton.Style;
        double NoExpansionShare(string weights)
        {
            using var net = SupernetFile.Open(fx.Space, weights);
            double plain = 0, all = 0;
            for (var b = 0; b < net.Blocks.Count; b++)
            {
                var counts = net.Blocks[b].Steps!.data<double>().ToArray();
                var candidates = fx.Space.Candidates[b];
                for (var o = 0; o < candidates.Count; o++)
                {
                    if (candidates[o].IsSkip || net.Blocks[b].Options.Count == 1) continue;
                    all += counts[o];
                    if (!CostModel.HasExpansion(style, candidates[o])) plain += counts[o];
                }
            }
            return plain / all;
        }

        var vitalUniform = NoExpansionShare(
            HourNasStages.SearchVitalBlocks(Small("v0"), fx.Space, Window, TinySearch).SupernetWeights);
        var vitalBalanced = NoExpansionShare(
            HourNasStages.SearchVitalBlocks(Small("v1"), fx.Space, Window, balanced).SupernetWeights);
        HourNasStages.SearchSpos(Small("s0"), fx.Space, Window, TinySearch);
        HourNasStages.SearchSpos(Small("s1"), fx.Space, Window, balanced);
        var (sposUniform, sposBalanced) =
            (NoExpansionShare(dir.File("s0/supernet.dat")), NoExpansionShare(dir.File("s1/supernet.dat")));
        Assert.InRange(vitalUniform, 0.2, 0.45);
        Assert.InRange(vitalBalanced, 0.4, 0.6);
        Assert.True(sposBalanced > sposUniform + 0.08, $"SPOS e1 share {sposBalanced:P0} vs {sposUniform:P0}");
    }

    [Fact]
    public void Kernels_apart_reach_every_supernet_stage_2_keeps_stage_1s_layout_and_the_files_score()
    {
        using var dir = new TempFolder();
        var apart = TinySearch with { KernelsApartBlocks = 1 };
        var s1 = HourNasStages.SearchVitalBlocks(Context(dir, "s1"), fx.Space, Window, apart);
        var vital = Presets.ResolveVitalChoices(fx.Space, s1.VitalOperations);
        // Stage 2 told to share the kernels still takes the vital supernet's layout, so it inherits all of it.
        var s2 = HourNasStages.SearchNonVitalBlocks(Context(dir, "s2"), fx.Space, Window, vital, s1.SupernetWeights,
            apart with { KernelsApartBlocks = 0 });
        HourNasStages.SearchSpos(Context(dir, "spos"), fx.Space, Window, apart);
        foreach (var weights in
                 new[] { s1.SupernetWeights, dir.File("s2/supernet.dat"), dir.File("spos/supernet.dat") })
        {
            using var net = SupernetFile.Open(fx.Space, weights);
            Assert.Equal(new HashSet<int> { 0 }, net.KernelsApart);
        }
        // Stage 2 fixed block 0 to the vital choice: its kernel's own weights came from stage 1 and still score.
        var predicted = HourNasStages.Predict(Context(dir, "predict"), fx.Space, dir.File("s2/supernet.dat"),
            [fx.Space.Parse(s2.Genotype)], apart);
        Assert.InRange(predicted[0].Top1, 0.0, 1.0);
        Assert.True(double.IsFinite(predicted[0].Loss));
        using var stage2 = SupernetFile.Open(fx.Space, dir.File("s2/supernet.dat"));
        // It holds block 0's weights for the vital choice's own kernel only (its family: k7e3 brings k7e6 along).
        Assert.Contains(vital[0], stage2.Blocks[0].Options);
        Assert.All(stage2.Blocks[0].Options, op => Assert.Equal(vital[0].Kernel, op.Kernel));
    }
}
