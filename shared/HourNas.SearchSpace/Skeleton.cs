using System.Text.Json;
using System.Text.Json.Serialization;

namespace HourNas.SearchSpace;

public enum Activation { ReLU, ReLU6, Swish }

/// <summary>What the squeeze-and-excitation reduction width is a fraction of.</summary>
public enum SeBasis { Input, Expanded }

/// <summary>SE with reduced width floor(ratio x basis width), at least 1.</summary>
public sealed record SqueezeExcitation(double Ratio, SeBasis Of);

/// <summary>
/// How every MBConv of a network is built. SE is a space-wide switch (null = no SE).
/// <see cref="ExpandAtRatioOne"/>: whether an e=1 block still has its 1x1 expansion conv; the released
/// HourNAS-F keeps it, EfficientNet and MobileNetV2 omit it. The cost model and the engine both obey it.
/// </summary>
public sealed record BlockStyle(Activation Activation, SqueezeExcitation? SqueezeExcitation, bool ExpandAtRatioOne);

public sealed record StemSpec(int Width, int Stride);

/// <summary>
/// A stage: <see cref="MaxDepth"/> blocks of output width <see cref="Width"/>; the first has the stride.
/// </summary>
public sealed record StageSpec(int Width, int MaxDepth, int Stride, IReadOnlyList<string>? Candidates = null);

/// <summary>
/// A preset's recommended training recipe for the whole pipeline (anything left out takes the pipeline's defaults):
/// sized so the preset's run fits its purpose, e.g. the smoke preset's end-to-end run in under two minutes.
/// </summary>
public sealed record Recipe(
    int? TrainLimit = null,
    int? SearchEpochs = null,
    int? RetrainEpochs = null,
    int? BatchSize = null,
    int? Population = null,
    int? Generations = null,
    int? ValidationImages = null,
    int? BatchNormMinSteps = null,
    int? ReferenceBatchSize = null,
    double? Dropout = null,
    double? ColourJitter = null,
    string? Interpolation = null,
    double? WeightAverage = null)
{
    /// <summary>The resize filters an image-folder preset may name.</summary>
    public static readonly IReadOnlyList<string> Interpolations = ["bilinear", "bicubic"];

    /// <summary>
    /// A network trained for fewer steps than this has its BatchNorm statistics re-estimated on training batches
    /// before it is tested: after a few steps the running averages still describe the first steps' weights (a
    /// 20-step fashion-mnist retrain tested at chance, 10%, with them).
    /// </summary>
    public const int DefaultBatchNormMinSteps = 200;
}

/// <summary>
/// A macro architecture: stem, stages of MBConv blocks, head conv, global pool, classifier.
/// Pure data, read from JSON (presets are embedded JSON files of the same form).
/// </summary>
public sealed record Skeleton(
    string Name,
    int InputSize,
    int InputChannels,
    int Classes,
    StemSpec Stem,
    IReadOnlyList<StageSpec> Stages,
    int HeadWidth,
    IReadOnlyList<string> Candidates,
    BlockStyle Style,
    string? Description = null,
    double? DefaultBudgetMFlops = null,
    Recipe? Recipe = null)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Feature map side after a conv with "same" padding and this stride.</summary>
    public static int OutputSize(int inputSize, int stride) => (inputSize + stride - 1) / stride;

    public int StemOutputSize => OutputSize(InputSize, Stem.Stride);

    public int BlockCount => Stages.Sum(s => s.MaxDepth);

    /// <summary>
    /// The blocks in order with their shapes; recomputed per call (cheap), so records stay plain data.
    /// </summary>
    public IReadOnlyList<BlockSpec> LayoutBlocks()
    {
        var blocks = new List<BlockSpec>(BlockCount);
        int width = Stem.Width, size = StemOutputSize;
        for (var s = 0; s < Stages.Count; s++)
        {
            var stage = Stages[s];
            var candidates = (stage.Candidates ?? Candidates).Select(Operation.Parse).ToArray();
            for (var p = 0; p < stage.MaxDepth; p++)
            {
                var stride = p == 0 ? stage.Stride : 1;
                var outSize = OutputSize(size, stride);
                blocks.Add(new BlockSpec(blocks.Count, s, p, width, stage.Width, stride, size, outSize, candidates));
                width = stage.Width;
                size = outSize;
            }
        }
        return blocks;
    }

    public int FinalWidth => Stages.Count == 0 ? Stem.Width : Stages[^1].Width;

    /// <summary>Checks every field; throws <see cref="SearchSpaceException"/> naming the first problem.</summary>
    public Skeleton Validate()
    {
        var where = $"skeleton '{Name}'";
        if (string.IsNullOrWhiteSpace(Name)) throw new SearchSpaceException("skeleton has no name");
        Require(InputSize >= 1, $"{where}: inputSize must be at least 1, got {InputSize}");
        Require(InputChannels >= 1, $"{where}: inputChannels must be at least 1, got {InputChannels}");
        Require(Classes >= 2, $"{where}: classes must be at least 2, got {Classes}");
        Require(Stem is not null, $"{where}: stem is missing");
        Require(Stem!.Width >= 1 && Stem.Stride >= 1, $"{where}: stem width and stride must be at least 1");
        Require(Stages is { Count: > 0 }, $"{where}: stages must list at least one stage");
        Require(HeadWidth >= 1, $"{where}: headWidth must be at least 1, got {HeadWidth}");
        Require(Style is not null, $"{where}: style is missing");
        if (Style!.SqueezeExcitation is { } se)
            Require(se.Ratio is > 0 and <= 1, $"{where}: squeezeExcitation ratio must be in (0, 1], got {se.Ratio}");
        CheckCandidates(Candidates, $"{where}: candidates");
        for (var s = 0; s < Stages.Count; s++)
        {
            var st = Stages[s];
            Require(st is not null, $"{where}: stage {s + 1} is empty");
            Require(st!.Width >= 1, $"{where}: stage {s + 1} width must be at least 1, got {st.Width}");
            Require(st.MaxDepth >= 1, $"{where}: stage {s + 1} maxDepth must be at least 1, got {st.MaxDepth}");
            Require(st.Stride >= 1, $"{where}: stage {s + 1} stride must be at least 1, got {st.Stride}");
            if (st.Candidates is not null) CheckCandidates(st.Candidates, $"{where}: stage {s + 1} candidates");
        }
        return this;
    }

    private static void CheckCandidates(IReadOnlyList<string>? candidates, string where)
    {
        Require(candidates is { Count: > 0 }, $"{where} must list at least one operation");
        foreach (var c in candidates!)
        {
            if (!Operation.TryParse(c, out var op))
                throw new SearchSpaceException($"{where}: unknown operation '{c}' (expected e.g. 'k3e6')");
            Require(!op.IsSkip, $"{where}: 'skip' is added to non-vital blocks automatically; do not list it");
        }
        var dup = candidates.GroupBy(c => c.Trim().ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
        Require(dup is null, $"{where}: '{dup?.Key}' is listed twice");
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new SearchSpaceException(message);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static Skeleton FromJson(string json, string source)
    {
        Skeleton? skeleton;
        try
        {
            skeleton = JsonSerializer.Deserialize<Skeleton>(json, Json);
        }
        catch (JsonException e)
        {
            throw new SearchSpaceException($"{source}: not a valid skeleton: {e.Message}");
        }
        if (skeleton is null) throw new SearchSpaceException($"{source}: empty skeleton");
        try
        {
            return skeleton.Validate();
        }
        catch (SearchSpaceException e)
        {
            throw new SearchSpaceException($"{source}: {e.Message}");
        }
    }

    public static Skeleton Load(string path)
    {
        if (!File.Exists(path)) throw new SearchSpaceException($"skeleton file '{path}' does not exist");
        return FromJson(File.ReadAllText(path), path);
    }
}

/// <summary>One block of a laid-out skeleton, with its shapes and its stage's candidate operations.</summary>
public sealed record BlockSpec(
    int Index,
    int Stage,
    int PositionInStage,
    int InWidth,
    int OutWidth,
    int Stride,
    int InputSize,
    int OutputSize,
    IReadOnlyList<Operation> StageCandidates)
{
    /// <summary>An MBConv has an identity shortcut exactly when it keeps resolution and width.</summary>
    public bool HasIdentityShortcut => Stride == 1 && InWidth == OutWidth;
}
