using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Stages;

/// <summary>
/// A short training of one path before it is scored: <see cref="Steps"/> batches at a cosine rate from
/// <see cref="LearningRate"/>, starting from the supernet's inherited weights or, as the control that says how much
/// of the ranking the inherited weights carry, from a fresh initialisation.
/// </summary>
public sealed record FineTune(int Steps, double LearningRate = 0.01, bool FromScratch = false)
{
    public FineTune Validate() => Steps >= 1 && LearningRate > 0 ? this
        : throw new ArgumentException(
            $"fine-tuning needs at least 1 step and a positive rate, got {Steps} steps at {LearningRate}");
}

/// <summary>
/// Settings of the search stages. Design choices, not from the paper: 10% of the training set held out for
/// validation, candidates scored on up to 2,000 validation images after re-estimating BatchNorm on 10 batches;
/// stage 1 admits a vital choice only when at least <see cref="MinBulbShare"/> of the bulbs' architectures still
/// fit the budget window with it (else stage 1 spends the whole budget on the neck and stage 2 has nothing to search).
/// <see cref="Sharing"/> is how the supernets hold their candidates' weights: entangled by default, since it trained
/// 2.5x faster and ranked better than independent weights in the rank study (docs/results.md measures both);
/// <see cref="NormPerCandidate"/> gives each entangled candidate BatchNorms of its own (measured there too).
/// <see cref="Rerank"/> is how many of an evolution's best candidates (stage 2, SPOS) are fine-tuned alone for
/// <see cref="RerankTuning"/>'s steps and scored again before the pick; 0 picks by inherited scores alone.
/// <see cref="RankBy"/> is what the supernet searches (stage 1, stage 2, SPOS) rank candidates by: their validation
/// loss by default, since on the rank study's reference set it ranked better than top-1 with each of eight supernets
/// (docs/results.md); results report top-1 either way. Random search ranks its short-trained networks by top-1.
/// <see cref="BalanceFamilies"/> trains the supernets (stage 1, stage 2, SPOS) on paths drawn with each block's
/// MBConv mass split equally between the candidates with and without an expansion conv
/// (<see cref="Proposal.BalanceFamilies"/>); the evolutions still draw from the proposal.
/// <see cref="KernelsApartBlocks"/> is how many leading blocks of the skeleton hold each kernel size's entangled
/// weights apart (<see cref="ChoiceBlock"/>); 0 entangles the kernels everywhere. The default is 1 (block 0 only):
/// on the rank study's reference set it raised the overall tau of six seeds' supernets from 0.40 to 0.50 on average
/// (paired, one-sided p = 0.02), since there a 7x7 filter no longer starts from the 3x3's trained centre and the
/// supernet sees what block 0's kernel costs stand-alone; all blocks apart ranked far worse (docs/results.md).
/// </summary>
public sealed record SearchSettings(
    int Epochs = 3,
    double ValidationFraction = 0.1,
    int ValidationImages = 2000,
    int BatchNormBatches = 10,
    double MinFraction = Budget.DefaultMinFraction,
    double? TargetMFlops = null,
    EvolutionSettings? Evolution = null,
    int RandomCandidates = 8,
    double MinBulbShare = 0.01,
    WeightSharing Sharing = WeightSharing.Entangled,
    int Rerank = 0,
    bool NormPerCandidate = false,
    CandidateRanking RankBy = CandidateRanking.Loss,
    bool BalanceFamilies = false,
    int KernelsApartBlocks = 1)
{
    /// <summary>
    /// The re-ranking's fine-tuning: 200 steps at a cosine rate from 0.01, as measured in the rank study, where it
    /// raised the overall tau of four supernets by 0.10 on average (docs/results.md).
    /// </summary>
    public static readonly FineTune RerankTuning = new(200);

    /// <summary>Settings from the user-facing knobs: the evolution's other sizes follow its population.</summary>
    public static SearchSettings Create(int epochs, int validationImages, double minFraction, int? population = null,
        int? generations = null, int randomCandidates = 8)
    {
        var defaults = new SearchSettings().EvolutionOrDefault;
        var pop = population ?? defaults.Population;
        return new SearchSettings(
            Epochs: epochs,
            ValidationImages: validationImages,
            MinFraction: minFraction,
            Evolution: defaults with
            {
                Population = pop,
                Generations = generations ?? defaults.Generations,
                Parents = Math.Min(defaults.Parents, pop),
                Mutations = Math.Max(1, pop / 2),
                Crossovers = Math.Max(1, pop / 2),
            },
            RandomCandidates: randomCandidates);
    }

    public EvolutionSettings EvolutionOrDefault => Evolution ?? new EvolutionSettings();

    /// <summary>The blocks of <paramref name="space"/> whose kernels hold weights apart (the leading ones).</summary>
    public IReadOnlySet<int> KernelsApart(ArchitectureSpace space) => KernelsApartBlocks >= 0
        ? Enumerable.Range(0, Math.Min(KernelsApartBlocks, space.Blocks.Count)).ToHashSet()
        : throw new ArgumentException($"kernels apart in {KernelsApartBlocks} blocks: give 0 or more");

    /// <summary>A candidate's score for ranking under <see cref="RankBy"/>: higher is better.</summary>
    public double RankingScore(double top1, double loss) => RankBy == CandidateRanking.Top1 ? top1 : -loss;
}

/// <summary>
/// What a search ranks candidates by on the validation images: the mean cross-entropy of the labels (lower is
/// better), or top-1. The loss grades every image, not only whether the top class is right, so two candidates'
/// scores differ by less noise.
/// </summary>
public enum CandidateRanking
{
    Loss,
    Top1,
}

/// <summary>
/// Everything a stage needs besides its own inputs: device, data, output folder, seed, progress sink.
/// </summary>
public sealed class StageContext
{
    public StageContext(Device device, Dataset data, string outputFolder, ulong seed, TrainSettings train,
        int? trainLimit = null, Action<Progress>? progress = null, CancellationToken cancellation = default)
    {
        Device = device;
        Data = data;
        OutputFolder = outputFolder;
        Seed = seed;
        Train = train;
        Progress = progress;
        Cancellation = cancellation;
        Directory.CreateDirectory(outputFolder);
        FullTrain = ImageSources.Limit(data.Train, trainLimit, seed);
        Normalization = Normalization.Estimate(FullTrain, seed: seed);
    }

    private StageContext(StageContext parent, string outputFolder)
    {
        Device = parent.Device;
        Data = parent.Data;
        OutputFolder = outputFolder;
        Seed = parent.Seed;
        Train = parent.Train;
        Progress = parent.Progress;
        Cancellation = parent.Cancellation;
        Directory.CreateDirectory(outputFolder);
        FullTrain = parent.FullTrain;
        Normalization = parent.Normalization;
    }

    /// <summary>The same context writing to a subfolder of this one's (a family member's results).</summary>
    public StageContext InFolder(string subfolder) => new(this, Path.Combine(OutputFolder, subfolder));

    public Device Device { get; }

    public Dataset Data { get; }

    public string OutputFolder { get; }

    public ulong Seed { get; }

    public TrainSettings Train { get; }

    public Action<Progress>? Progress { get; }

    public CancellationToken Cancellation { get; }

    /// <summary>The training set (possibly limited for small runs); the retraining stage trains on all of it.</summary>
    public IImageSource FullTrain { get; }

    public Normalization Normalization { get; }

    public string PathFor(string name) => Path.Combine(OutputFolder, name);
}
