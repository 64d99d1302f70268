using System.Text.Json;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HourNas.Engine.Export;

/// <summary>What the network takes: C x H x W pixels scaled to [0, 1], normalised per channel by mean and
/// std.</summary>
public sealed record ModelInput(int Channels, int Height, int Width, string Layout, float[] Mean, float[] Std);

/// <summary>Latency per image at batch 1: median of repeated runs on the given device and thread count.</summary>
public sealed record ModelLatency(double Milliseconds, string Device, int Threads, int BatchSize);

/// <summary>The files of the model, relative to the card.</summary>
public sealed record ModelFiles(string Onnx, string PyTorch, string TorchSharp)
{
    public static readonly ModelFiles Default = new("model.onnx", "weights.pth", "weights.dat");
}

/// <summary>
/// model.json beside every retrained network: everything a user needs to run it and to reproduce its figures
/// (skeleton, genotype, input and normalisation, classes, cost, accuracy, recipe and seed, and the numerics the
/// retraining ran with: one seed gives the same weights only where those agree).
/// </summary>
public sealed record ModelCard(
    string Format,
    string Preset,
    JsonElement Skeleton,
    string Genotype,
    ModelInput Input,
    IReadOnlyList<string>? Classes,
    double MFlops,
    long Params,
    ModelLatency Latency,
    double Top1,
    double Top5,
    int TestImages,
    long TrainSetImages,
    TrainSettings Recipe,
    ulong Seed,
    ModelFiles Files,
    BatchNormNote? BatchNorm = null,
    Numerics? Numerics = null)
{
    public const string FormatName = "hournas-model/1";

    public const string FileName = "model.json";

    /// <summary>The card of a network just retrained in <paramref name="ctx"/>.</summary>
    public static ModelCard Create(StageContext ctx, ArchitectureSpace space, RetrainResult result)
    {
        var skeleton = space.Skeleton;
        using var doc = JsonDocument.Parse(skeleton.ToJson());
        var norm = ctx.Normalization;
        return new ModelCard(FormatName, skeleton.Name, doc.RootElement.Clone(), result.Genotype,
            new ModelInput(skeleton.InputChannels, skeleton.InputSize, skeleton.InputSize, "NCHW", norm.Mean,
                norm.Std),
            ctx.Data.ClassNames, result.MFlops, result.Params,
            new ModelLatency(result.LatencyMilliseconds, ctx.Device.ToString(), get_num_threads(), 1),
            result.Top1, result.Top5, (int)result.Cost.EvalImages, ctx.FullTrain.Count, ctx.Train, ctx.Seed,
            ModelFiles.Default, result.BatchNorm, NumericsPinning.Current());
    }

    public static ModelCard Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model card '{path}' does not exist", path);
        var card = JsonSerializer.Deserialize<ModelCard>(File.ReadAllText(path), HourNasStages.Json)
            ?? throw new InvalidDataException($"{path}: empty model card");
        return card.Format == FormatName
            ? card
            : throw new InvalidDataException($"{path}: format '{card.Format}', expected '{FormatName}'");
    }

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, HourNasStages.Json));
}

/// <summary>
/// The PyTorch file: the network's state dict plus <c>input_mean</c> and <c>input_std</c> (one value per channel),
/// so the normalisation travels with the weights. Pop the two before <c>load_state_dict(strict=True)</c>.
/// </summary>
public static class PyTorchExport
{
    public const string MeanKey = "input_mean";

    public const string StdKey = "input_std";

    public static void Save(SuperNet net, Normalization normalization, string path)
    {
        var state = new Dictionary<string, Tensor>(net.state_dict());
        using var mean = tensor(normalization.Mean);
        using var std = tensor(normalization.Std);
        if (!state.TryAdd(MeanKey, mean) || !state.TryAdd(StdKey, std))
            throw new InvalidOperationException($"the network already has a tensor named {MeanKey} or {StdKey}");
        PyTorchPickler.PickleStateDict(path, state);
    }
}
