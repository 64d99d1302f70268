using System.Text.Json;
using HourNas.Engine.Data;
using HourNas.Engine.Export;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.SearchSpace;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace HourNas.Engine.Tests;

/// <summary>
/// The retrained network as users get it: model.json, weights.pth with the normalisation, and model.onnx run in ONNX
/// Runtime (a runtime we did not write) against TorchSharp.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public sealed class ModelExportTests(FashionMnistFixture fx)
{
    [Fact]
    public void A_retrained_network_ships_a_card_a_pytorch_file_and_an_onnx_model_that_agree_with_it()
    {
        using var dir = new TempFolder();
        var genotype = fx.Space.Parse("k3e1 | k3e6 skip skip | k5e3 k3e3 skip | k3e6 skip");
        var ctx = new StageContext(fx.Device, fx.Data, dir.File("r"), 0, FashionMnistFixture.Tiny(), trainLimit: 640);
        var result = HourNasStages.Retrain(ctx, fx.Space, genotype);

        var card = ModelCard.Read(dir.File("r/model.json"));
        Assert.Equal("fashion-mnist", card.Preset);
        Assert.Equal(genotype.ToString(), card.Genotype);
        Assert.Equal(fx.Space.Skeleton.ToJson(), Skeleton.FromJson(card.Skeleton.GetRawText(), "model.json").ToJson());
        Assert.Equal((1, 28, 28, "NCHW"),
            (card.Input.Channels, card.Input.Height, card.Input.Width, card.Input.Layout));
        Assert.Equal(ctx.Normalization.Mean, card.Input.Mean);
        Assert.Equal(ctx.Normalization.Std, card.Input.Std);
        Assert.Equal(FashionMnist.ClassNames, card.Classes);
        Assert.Equal((result.Top1, result.Top5, result.MFlops, result.Params),
            (card.Top1, card.Top5, card.MFlops, card.Params));
        Assert.Equal(10_000, card.TestImages);
        Assert.Equal(640, card.TrainSetImages);
        Assert.Equal(ctx.Train, card.Recipe);
        Assert.True(card.Latency.Milliseconds > 0 && card.Latency.Threads > 0);

        // The PyTorch file: the state dict plus the normalisation, which loads strictly once the two are popped.
        var state = PyTorchUnpickler.UnpickleStateDict(result.PyTorchWeights);
        Assert.Equal(ctx.Normalization.Mean, ((Tensor)state[PyTorchExport.MeanKey]!).data<float>().ToArray());
        Assert.Equal(ctx.Normalization.Std, ((Tensor)state[PyTorchExport.StdKey]!).data<float>().ToArray());
        using var fromPyTorch = SuperNet.Child(fx.Space, genotype);
        var loaded = new Dictionary<string, bool>();
        fromPyTorch.load_py(result.PyTorchWeights, strict: false, loadedParameters: loaded);
        Assert.All(fromPyTorch.state_dict().Keys, k => Assert.True(loaded.GetValueOrDefault(k), $"{k} not loaded"));

        // ONNX: raw pixels in; test top-1 as reported (within 0.05 points) and logits as TorchSharp's.
        using var session = new InferenceSession(result.Onnx);
        var onnxTop1 = OnnxModel.Top1(session, fx.Data.Test);
        Assert.True(Math.Abs(onnxTop1 - result.Top1) <= 0.0005, $"ONNX top-1 {onnxTop1}, reported {result.Top1}");
        using var net = SuperNet.Child(fx.Space, genotype);
        net.load(result.Weights);
        OnnxModel.AssertSameLogits(session, net, fx.Data.Test, ctx.Normalization, count: 64);
        Assert.Equal(genotype.ToString(), session.ModelMetadata.CustomMetadataMap["genotype"]);
    }

    /// <summary>Every layer kind: no SE and SE, each activation, e1 with and without its expansion conv.</summary>
    [Theory]
    [InlineData("fashion-mnist", null, false)]
    [InlineData("cifar10", "swish", true)]
    [InlineData("mobilenetv2", null, true)]
    [InlineData("imagenet", null, false)]
    public void Onnx_logits_match_torchsharp_for_random_weights_and_statistics(string preset, string? activation,
        bool addSe)
    {
        var skeleton = Presets.Skeleton(preset);
        var style = skeleton.Style;
        if (activation is not null) style = style with { Activation = Enum.Parse<Activation>(activation, true) };
        if (addSe) style = style with { SqueezeExcitation = new SqueezeExcitation(0.05, SeBasis.Expanded) };
        var space = new ArchitectureSpace(skeleton with { Style = style });
        var rng = new Rng(11);
        var genotype = space.FromBlocks(space.Blocks.Select(b =>
            space.Candidates[b.Index][rng.NextInt(space.Candidates[b.Index].Count)]).ToArray());
        manual_seed(3);
        using var net = SuperNet.Child(space, genotype);
        RandomizeBatchNorm(net);
        var c = skeleton.InputChannels;
        var norm = new Normalization(
            Enumerable.Range(0, c).Select(i => 0.3f + 0.1f * i).ToArray(),
            Enumerable.Range(0, c).Select(i => 0.2f + 0.05f * i).ToArray());
        using var dir = new TempFolder();
        OnnxExport.Write(net, norm, dir.File("model.onnx"));
        using var session = new InferenceSession(dir.File("model.onnx"));
        var batch = preset == "imagenet" ? 2 : 16;
        OnnxModel.AssertSameLogits(session, net, RandomImages(batch, c, skeleton.InputSize, skeleton.Classes), norm,
            batch);
    }

    [Fact]
    public void The_released_cifar10_HourNasF_retrains_a_few_steps_and_exports_a_model_that_agrees_in_onnx()
    {
        // The GPU reproduction target (docs/engine.md), here as a smoke test: one step on synthetic CIFAR images.
        var (space, genotype) = Presets.Resolve("cifar10-hournas-f", "hournas-f-c10");
        var data = new Dataset(LearnableImages(64, 3, 32, seed: 3), LearnableImages(128, 3, 32, seed: 4), "cifar10",
            Cifar10.ClassNames("/nonexistent"));
        using var dir = new TempFolder();
        var ctx = new StageContext(fx.Device, data, dir.File("r"), 0, FashionMnistFixture.Tiny());
        var result = HourNasStages.Retrain(ctx, space, genotype);
        Assert.Equal((393.409872, 4_084_272L), (result.MFlops, result.Params));
        Assert.NotNull(result.BatchNorm);  // one step: the statistics were re-estimated
        using var session = new InferenceSession(result.Onnx);
        using var net = SuperNet.Child(space, genotype);
        net.load(result.Weights);
        OnnxModel.AssertSameLogits(session, net, data.Test, ctx.Normalization, 16);
        Assert.Equal(0.2, ModelCard.Read(dir.File("r/model.json")).Skeleton.GetProperty("recipe")
            .GetProperty("dropout").GetDouble());
    }

    [Fact]
    public void Cifar10_with_se_retrained_in_onnx_scores_the_reported_top1()
    {
        var skeleton = Presets.Skeleton("cifar10");
        skeleton = skeleton with
        {
            Style = skeleton.Style with { SqueezeExcitation = new SqueezeExcitation(0.05, SeBasis.Expanded) },
        };
        var space = new ArchitectureSpace(skeleton);
        var data = new Dataset(LearnableImages(512, 3, 32, seed: 1), LearnableImages(2000, 3, 32, seed: 2), "cifar10",
            Cifar10.ClassNames("/nonexistent"));
        using var dir = new TempFolder();
        var ctx = new StageContext(fx.Device, data, dir.File("r"), 0, FashionMnistFixture.Tiny());
        var genotype = space.FromBlocks(space.Blocks.Select(b => space.Candidates[b.Index]
            .First(o => !o.IsSkip)).ToArray());
        var result = HourNasStages.Retrain(ctx, space, genotype);
        using var session = new InferenceSession(result.Onnx);
        var onnxTop1 = OnnxModel.Top1(session, data.Test);
        Assert.True(Math.Abs(onnxTop1 - result.Top1) <= 0.0005, $"ONNX top-1 {onnxTop1}, reported {result.Top1}");
        var card = ModelCard.Read(dir.File("r/model.json"));
        Assert.Equal("airplane", card.Classes![0]);
        Assert.Equal(3, card.Input.Mean.Length);
        Assert.Contains("squeezeExcitation", card.Skeleton.GetRawText());
    }

    [Fact]
    public void A_supernet_with_entangled_weights_is_refused_by_name()
    {
        using var net = SuperNet.Vital(fx.Space, WeightSharing.Entangled);
        var e = Assert.Throws<ArgumentException>(() =>
            OnnxExport.Build(net, new Normalization([0.5f], [0.25f])));
        Assert.Contains("independent weights", e.Message);
        var genotype = fx.Space.Parse("k3e1 | k3e6 skip skip | k5e3 k3e3 skip | k3e6 skip");
        using var child = SuperNet.Child(fx.Space, genotype);
        e = Assert.Throws<ArgumentException>(() => OnnxExport.Build(child, new Normalization([0.5f, 0.5f], [1, 1])));
        Assert.Contains("2 channels", e.Message);
    }

    private static void RandomizeBatchNorm(SuperNet net)
    {
        using var _ = no_grad();
        foreach (var (name, t) in net.state_dict())
        {
            if (name.EndsWith(".running_mean")) t.copy_(randn_like(t) * 0.2);
            else if (name.EndsWith(".running_var")) t.copy_(rand_like(t) + 0.5);
            else if (name.EndsWith(".bn.weight")) t.copy_(rand_like(t) + 0.5);
            else if (name.EndsWith(".bn.bias")) t.copy_(randn_like(t) * 0.1);
        }
    }

    private static InMemoryImages RandomImages(int count, int channels, int size, int classes)
    {
        var rng = new Rng(5);
        var pixels = new byte[count * channels * size * size];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.NextInt(256);
        return new InMemoryImages("random", pixels, new byte[count], channels, size, size, classes, cropPadding: 0);
    }

    /// <summary>Images whose class sets the brightness of one channel's quarter: learnable in a few steps.</summary>
    private static InMemoryImages LearnableImages(int count, int channels, int size, ulong seed)
    {
        var rng = new Rng(seed);
        var plane = size * size;
        var pixels = new byte[count * channels * plane];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            var label = rng.NextInt(10);
            labels[i] = (byte)label;
            for (var p = 0; p < channels * plane; p++)
            {
                var ch = p / plane;
                var quarter = (p % plane) / (plane / 4);
                var lit = label % channels == ch && label / channels == quarter;
                pixels[i * channels * plane + p] = (byte)(rng.NextInt(96) + (lit ? 128 : 0));
            }
        }
        return new InMemoryImages("learnable", pixels, labels, channels, size, size, 10, cropPadding: 0);
    }
}

/// <summary>Runs an exported model in ONNX Runtime on raw pixels (bytes / 255).</summary>
internal static class OnnxModel
{
    public static float[] Logits(InferenceSession session, IImageSource data, int start, int count)
    {
        int c = data.Channels, h = data.Height, w = data.Width, size = c * h * w;
        var pixels = new float[count * size];
        var image = new byte[size];
        for (var i = 0; i < count; i++)
        {
            data.Read(start + i, image, augment: false, new Rng(0));
            for (var p = 0; p < size; p++) pixels[i * size + p] = image[p] / 255f;
        }
        var input = new DenseTensor<float>(pixels, [count, c, h, w]);
        using var output = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, input)]);
        return output.Single(o => o.Name == OnnxExport.OutputName).AsEnumerable<float>().ToArray();
    }

    public static double Top1(InferenceSession session, IImageSource data)
    {
        var correct = 0;
        for (var start = 0; start < data.Count; start += 500)
        {
            var n = Math.Min(500, data.Count - start);
            var logits = Logits(session, data, start, n);
            var classes = logits.Length / n;
            for (var i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * classes, classes);
                var best = 0;
                for (var k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
                if (best == data.Label(start + i)) correct++;
            }
        }
        return (double)correct / data.Count;
    }

    public static void AssertSameLogits(InferenceSession session, SuperNet net, IImageSource data,
        Normalization normalization, int count)
    {
        var onnx = Logits(session, data, 0, count);
        net.eval();
        using var _ = no_grad();
        var batch = BatchLoader.Read(data, count, normalization, train: false, 0).First();
        using var x = tensor(batch.Images, [batch.Count, batch.Channels, batch.Height, batch.Width]);
        using var y = net.call(x);
        var torch = y.data<float>().ToArray();
        Assert.Equal(torch.Length, onnx.Length);
        var worst = torch.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-4, $"largest logit difference {worst}");
    }
}
