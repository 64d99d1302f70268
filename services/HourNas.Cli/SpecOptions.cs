using System.CommandLine;
using HourNas.Contracts;
using HourNas.Pipeline;
using HourNas.SearchSpace;

namespace HourNas.Cli;

/// <summary>The options that make an <see cref="ExperimentSpec"/>, shared by <c>run</c> and <c>submit</c>.</summary>
internal sealed class SpecOptions
{
    // The help states the defaults where they are defined, never as literals of its own.
    private static readonly ExperimentSpec Defaults = new();
    private static readonly EvolutionSettings Evolution = new();

    private readonly Option<string> _preset = HournasCli.Options.Preset(required: true);
    private readonly BudgetOptions _budget =
        new("FLOPs budget in millions (default, when no budget is given: the preset's)", fractionDefault: false);
    private readonly Option<string?> _family = new("--budgets-mflops")
    {
        Description = "a family: one network per FLOPs budget in millions, comma-separated (e.g. 1,2,4); the " +
            "budget-independent training is done once, the other budgets bound every member",
    };
    private readonly Option<string?> _data = new("--data")
    {
        Description = "dataset folder (default for the fashion-mnist presets: Debian's dataset-fashion-mnist)",
    };
    private readonly Option<ulong> _seed = new("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
    private readonly Option<int?> _trainLimit = new("--train-limit")
    {
        Description = "use only this many training images (seeded subset)",
    };
    private readonly Option<int?> _stage1TrainLimit = new("--stage1-train-limit")
    {
        Description = "stage 1 (the vital blocks' search) trains on only this many images " +
            "(seeded subset; default: as the other stages)",
    };
    private readonly Option<int?> _searchEpochs = new("--search-epochs")
    {
        Description = "supernet epochs per search stage (default: the preset's recipe, else " +
            $"{ExperimentSpecs.DefaultSearchEpochs})",
    };
    private readonly Option<int?> _retrainEpochs = new("--retrain-epochs")
    {
        Description = "epochs of the final retraining (default: the preset's recipe, else " +
            $"{ExperimentSpecs.DefaultRetrainEpochs})",
    };
    private readonly Option<int?> _batch = new("--batch-size")
    {
        Description = $"batch size (default: the preset's recipe, else {ExperimentSpecs.DefaultBatchSize})",
    };
    private readonly Option<double> _lr = new("--lr")
    {
        Description = "peak learning rate at the preset's reference batch (its recipe's, else 128), scaled " +
            "linearly with the batch size",
        DefaultValueFactory = _ => Defaults.LearningRate,
    };
    private readonly Option<int?> _population = new("--population")
    {
        Description = $"evolution population (default: the preset's recipe, else {Evolution.Population})",
    };
    private readonly Option<int?> _generations = new("--generations")
    {
        Description = $"evolution generations (default: the preset's recipe, else {Evolution.Generations})",
    };
    private readonly Option<string?> _sharing = new("--weight-sharing")
    {
        Description = "the search supernets' candidates hold independent or entangled weights " +
            $"(default: {ExperimentSpecs.WeightSharings[0]})",
    };
    private readonly Option<int?> _rerank = new("--rerank")
    {
        Description = "fine-tune stage 2's best K candidates alone for a few steps and pick by their new scores " +
            $"(default {ExperimentSpecs.DefaultRerank}: by inherited accuracy; 3 is the measured setting)",
    };
    private readonly Option<string?> _rankBy = new("--rank-by")
    {
        Description = "what the search supernets rank candidates by: loss (their validation cross-entropy) or top1 " +
            $"(default: {ExperimentSpecs.Rankings[0]})",
    };
    private readonly Option<int?> _kernelsApart = new("--kernels-apart")
    {
        Description = "how many leading blocks of the search supernets hold each kernel size's weights apart " +
            $"(default {ExperimentSpecs.DefaultKernelsApartBlocks}; 0 shares them everywhere)",
    };
    private readonly Option<bool> _noAblation = new("--no-ablation")
    {
        Description = "skip the block ablation of the final network",
    };
    private readonly Option<string?> _device = new("--device")
    {
        Description = "cpu, cuda or cuda:N (default: HOURNAS_DEVICE or cpu)",
    };

    public void AddTo(Command command)
    {
        Option[] options =
        [
            _preset, .. _budget.All, _family, _data, _seed, _trainLimit, _stage1TrainLimit, _searchEpochs,
            _retrainEpochs, _batch, _lr, _population, _generations, _sharing, _rerank, _rankBy, _kernelsApart,
            _noAblation, _device,
        ];
        foreach (var option in options) command.Options.Add(option);
    }

    public ExperimentSpec Read(ParseResult parse)
    {
        var preset = parse.GetValue(_preset)!;
        var spec = new ExperimentSpec
        {
            Preset = preset,
            // A skeleton file is read here, on the client: the coordinator reads no path a spec names.
            Skeleton = IsSkeletonFile(preset) ? ReadSkeleton(preset) : null,
            BudgetMFlops = parse.GetValue(_budget.Flops),
            BudgetMParams = parse.GetValue(_budget.MParams),
            BudgetsMFlops = parse.GetValue(_family) is { } family ? FamilyBudgets(family) : null,
            BudgetMilliseconds = parse.GetValue(_budget.Milliseconds),
            LatencyTable = _budget.TableJson(parse),
            Data = parse.GetValue(_data) is { } data ? Path.GetFullPath(data) : null,
            Seed = parse.GetValue(_seed),
            TrainLimit = parse.GetValue(_trainLimit),
            VitalSearchTrainLimit = parse.GetValue(_stage1TrainLimit),
            SearchEpochs = parse.GetValue(_searchEpochs),
            RetrainEpochs = parse.GetValue(_retrainEpochs),
            BatchSize = parse.GetValue(_batch),
            LearningRate = parse.GetValue(_lr),
            Population = parse.GetValue(_population),
            Generations = parse.GetValue(_generations),
            WeightSharing = parse.GetValue(_sharing),
            Rerank = parse.GetValue(_rerank),
            RankBy = parse.GetValue(_rankBy),
            KernelsApartBlocks = parse.GetValue(_kernelsApart),
            Ablate = !parse.GetValue(_noAblation),
            Device = parse.GetValue(_device),
        };
        return _budget.Fraction(parse) is { } f ? spec with { MinFraction = f } : spec;
    }

    /// <summary>"1,2,4" as numbers; a token that is not one is an error naming it.</summary>
    internal static IReadOnlyList<double> FamilyBudgets(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries).Select(token =>
            double.TryParse(token, System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new SearchSpaceException(
                    $"--budgets-mflops: '{ExperimentSpecs.Shown(token, 32)}' is not a number (e.g. 1,2,4)"))
            .ToArray();

    private static bool IsSkeletonFile(string preset) =>
        !Presets.SkeletonNames.Contains(preset)
        && (preset.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(preset));

    private static string ReadSkeleton(string path)
    {
        if (!File.Exists(path)) throw new SearchSpaceException($"skeleton file '{path}' does not exist");
        if (new FileInfo(path).Length > Pipeline.ExperimentSpecs.MaxSkeletonChars)
            throw new SearchSpaceException(
                $"skeleton file '{path}' is larger than {Pipeline.ExperimentSpecs.MaxSkeletonChars:N0} bytes");
        var json = File.ReadAllText(path);
        Skeleton.FromJson(json, path);
        return json;
    }
}
