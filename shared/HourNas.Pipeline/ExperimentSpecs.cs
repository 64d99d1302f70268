using HourNas.Contracts;
using HourNas.SearchSpace;

namespace HourNas.Pipeline;

/// <summary>
/// What a user's <see cref="ExperimentSpec"/> means: one place for the defaults, the bounds and the checks, shared by
/// the coordinator (at submission) and the workers (what they run). The engine's settings are made from a resolved
/// spec on the workers' side (<c>HourNas.Workers.EngineSettings</c>).
/// </summary>
public static partial class ExperimentSpecs
{
    public const int DefaultSearchEpochs = 3;
    public const int DefaultRetrainEpochs = 5;
    public const int DefaultBatchSize = 128;
    public const int DefaultValidationImages = 2000;

    /// <summary>
    /// Stage 2's best candidates re-ranked by a short fine-tuning: off by default, since with 3 it took the README's
    /// first command to 5 min 18 s here, past its 5-minute limit, for a gain 5 seeds could not call significant
    /// (docs/results.md); --rerank 3 is the measured setting.
    /// </summary>
    public const int DefaultRerank = 0;

    /// <summary>
    /// Block 0's kernels hold their weights apart in the search supernets: it ranked the rank study's reference set
    /// better over six seeds (docs/results.md). The engine's own default is the same (a test holds them together).
    /// </summary>
    public const int DefaultKernelsApartBlocks = 1;

    /// <summary>
    /// Checks the spec and fills every null recipe field from the preset's recipe, else the defaults. Throws
    /// <see cref="SearchSpaceException"/> naming the problem (unknown preset, no budget, bad number).
    /// </summary>
    public static ExperimentSpec Resolve(ExperimentSpec spec)
    {
        CheckStrings(spec);
        spec = ResolveFamily(spec);
        var skeleton = SkeletonOf(spec);
        var recipe = skeleton.Recipe ?? new Recipe();
        var anyBudget = spec.BudgetMFlops is not null || spec.BudgetMParams is not null
            || spec.BudgetMilliseconds is not null || IsFamily(spec);
        var budget = spec.BudgetMFlops ?? (anyBudget ? null : skeleton.DefaultBudgetMFlops
            ?? throw new SearchSpaceException(
                $"preset '{skeleton.Name}' has no default budget: give one (--budget-mflops)"));
        if (budget is { } flops && !(flops > 0 && flops <= MaxBudgetMFlops))
            throw new SearchSpaceException(
                $"the budget must be positive and at most {MaxBudgetMFlops:N0} MFLOPs, got {flops}");
        if (spec.BudgetMParams is { } mparams && !(mparams > 0 && mparams <= MaxBudgetMParams))
            throw new SearchSpaceException(
                $"the parameter budget must be positive and at most {MaxBudgetMParams:N0} M, got {mparams}");
        if (spec.BudgetMilliseconds is { } ms && !(ms > 0 && ms <= MaxBudgetMilliseconds))
            throw new SearchSpaceException(
                $"the latency budget must be positive and at most {MaxBudgetMilliseconds:N0} ms, got {ms}");
        if (spec.BudgetMilliseconds is not null && spec.LatencyTable is null)
            throw new SearchSpaceException(
                "a latency budget needs a latency table of the preset (hournas latency-table; --latency-table FILE)");
        if (spec.LatencyTable is not null) _ = new ArchitectureSpace(skeleton, Latencies(spec));
        if (!(spec.MinFraction is > 0 and <= 1))
            throw new SearchSpaceException($"the window's lower fraction must be in (0, 1], got {spec.MinFraction}");
        if (spec.Device is { } device && !DeviceSyntax().IsMatch(device))
            throw new SearchSpaceException($"device must be cpu, cuda or cuda:N, got '{Shown(device)}'");
        var resolved = spec with
        {
            Preset = skeleton.Name,
            Device = spec.Device?.ToLowerInvariant(),
            BudgetMFlops = budget,
            TrainLimit = spec.TrainLimit ?? recipe.TrainLimit,
            SearchEpochs = spec.SearchEpochs ?? recipe.SearchEpochs ?? DefaultSearchEpochs,
            RetrainEpochs = spec.RetrainEpochs ?? recipe.RetrainEpochs ?? DefaultRetrainEpochs,
            BatchSize = spec.BatchSize ?? recipe.BatchSize ?? DefaultBatchSize,
            Population = spec.Population ?? recipe.Population ?? new EvolutionSettings().Population,
            Generations = spec.Generations ?? recipe.Generations ?? new EvolutionSettings().Generations,
            ValidationImages = spec.ValidationImages ?? recipe.ValidationImages ?? DefaultValidationImages,
            WeightSharing = Sharing(spec.WeightSharing),
            Rerank = spec.Rerank ?? DefaultRerank,
            RankBy = Ranking(spec.RankBy),
            KernelsApartBlocks = spec.KernelsApartBlocks ?? DefaultKernelsApartBlocks,
        };
        InRange(resolved.SearchEpochs, 1, 10_000, "search epochs");
        InRange(resolved.RetrainEpochs, 1, 10_000, "retrain epochs");
        InRange(resolved.BatchSize, 1, 65_536, "batch size");
        InRange(resolved.Population, 1, 100_000, "population");
        InRange(resolved.Generations, 1, 100_000, "generations");
        InRange(resolved.ValidationImages, 1, 100_000_000, "validation images");
        InRange(resolved.Rerank, 0, 1_000, "the number of candidates to re-rank");
        InRange(resolved.KernelsApartBlocks, 0, skeleton.LayoutBlocks().Count,
            $"the blocks with kernels apart (preset '{skeleton.Name}' has {skeleton.LayoutBlocks().Count})");
        if (resolved.TrainLimit is { } limit) InRange(limit, 1, int.MaxValue, "the train limit");
        if (resolved.VitalSearchTrainLimit is { } limit1) InRange(limit1, 1, int.MaxValue, "the stage-1 train limit");
        if (!(resolved.LearningRate is > 0 and <= 100))
            throw new SearchSpaceException($"the learning rate must be in (0, 100], got {resolved.LearningRate}");
        return resolved;
    }

    /// <summary>
    /// What only the deployment can say about a resolved spec: its device is one the workers offer, and its data
    /// folder lies under the data roots (the spec then carries the folder's real path). Throws
    /// <see cref="ArgumentException"/> naming the problem.
    /// </summary>
    public static ExperimentSpec Admit(ExperimentSpec resolved, IReadOnlyCollection<string> devices, DataRoots roots)
    {
        if (resolved.Device is { } device && !devices.Contains(device.Split(':')[0], StringComparer.OrdinalIgnoreCase))
            throw new ArgumentException(
                $"device '{device}' is not offered here: the workers offer {string.Join(", ", devices)} " +
                "(HourNas:Devices)");
        return resolved.Data is { } data ? resolved with { Data = roots.Confine(data) } : resolved;
    }

    /// <summary>
    /// A family's budgets checked and sorted; one budget is a plain <see cref="ExperimentSpec.BudgetMFlops"/>.
    /// </summary>
    private static ExperimentSpec ResolveFamily(ExperimentSpec spec)
    {
        if (spec.BudgetsMFlops is not { } budgets) return spec;
        if (spec.BudgetMFlops is not null)
            throw new SearchSpaceException(
                "give either one FLOPs budget (budgetMFlops) or a family's (budgetsMFlops), not both");
        if (budgets.Count is 0 or > ExperimentSpec.MaxFamilyMembers)
            throw new SearchSpaceException(
                $"a family has 1 to {ExperimentSpec.MaxFamilyMembers} FLOPs budgets, got {budgets.Count}");
        foreach (var b in budgets)
            if (!(b > 0 && b <= MaxBudgetMFlops))
                throw new SearchSpaceException(
                    $"every budget of a family must be positive and at most {MaxBudgetMFlops:N0} MFLOPs, got {b}");
        if (budgets.Distinct().Count() != budgets.Count)
            throw new SearchSpaceException(
                $"a family's budgets must differ, got {string.Join(", ", budgets)}");
        return budgets.Count == 1
            ? spec with { BudgetMFlops = budgets[0], BudgetsMFlops = null }
            : spec with { BudgetsMFlops = budgets.Order().ToArray() };
    }

    /// <summary>Whether a spec asks for a family (more than one FLOPs budget).</summary>
    public static bool IsFamily(ExperimentSpec spec) => spec.BudgetsMFlops is { Count: > 1 };

    /// <summary>
    /// The spec of each member of a family, in budget order (each with its own FLOPs budget and no family); a spec
    /// that is no family is its own only member.
    /// </summary>
    public static IReadOnlyList<ExperimentSpec> Members(ExperimentSpec spec) => IsFamily(spec)
        ? spec.BudgetsMFlops!.Select(b => spec with { BudgetMFlops = b, BudgetsMFlops = null }).ToArray()
        : [spec];

    /// <summary>The budget of each member (<see cref="Members"/>).</summary>
    public static IReadOnlyList<Budget> Budgets(ExperimentSpec spec) => Members(spec).Select(Budget).ToArray();

    public const double MaxBudgetMFlops = 1_000_000;
    public const double MaxBudgetMParams = 100_000;
    public const double MaxBudgetMilliseconds = 3_600_000;
    public const int MaxLatencyTableChars = 256 * 1024;
    public const int MaxSkeletonChars = 64 * 1024;
    public const int MaxNameChars = 64;

    /// <summary>
    /// The spec's search space: its inline skeleton, else the embedded preset it names (never a file).
    /// </summary>
    public static Skeleton SkeletonOf(ExperimentSpec spec)
    {
        if (spec.Skeleton is null) return Presets.Named(spec.Preset);
        if (spec.Skeleton.Length > MaxSkeletonChars)
            throw new SearchSpaceException(
                $"the inline skeleton is {spec.Skeleton.Length:N0} characters; at most {MaxSkeletonChars:N0}");
        return CheckBounded(SearchSpace.Skeleton.FromJson(spec.Skeleton, "the spec's skeleton"));
    }

    public static ArchitectureSpace Space(ExperimentSpec spec)
    {
        return new ArchitectureSpace(SkeletonOf(spec), spec.LatencyTable is null ? null : Latencies(spec));
    }

    /// <summary>
    /// The spec's inline latency table, checked for its size and against the spec's device (cpu when it names none);
    /// the space it is given to checks it against the preset.
    /// </summary>
    private static LatencyTable Latencies(ExperimentSpec spec)
    {
        var text = spec.LatencyTable!;
        if (text.Length > MaxLatencyTableChars)
            throw new SearchSpaceException(
                $"the inline latency table is {text.Length:N0} characters; at most {MaxLatencyTableChars:N0}");
        var table = SearchSpace.LatencyTable.FromJson(text, "the spec's latency table");
        return table.RequireDevice((spec.Device ?? "cpu").Split(':')[0]);
    }

    /// <summary>A value for an error message: long ones cut, so a 10 MB field is not echoed back.</summary>
    public static string Shown(string value, int max = MaxNameChars) => BoundedText.Shown(value, max);

    private static void CheckStrings(ExperimentSpec spec)
    {
        if (spec.Preset is null) throw new SearchSpaceException("the spec names no preset");
        if (spec.Preset.Length > MaxNameChars)
            throw new SearchSpaceException(
                $"the preset name is {spec.Preset.Length:N0} characters; at most {MaxNameChars}");
        if (spec.Data is { Length: > DataRoots.MaxPathLength } data)
            throw new SearchSpaceException(
                $"the data folder's path is {data.Length:N0} characters; at most {DataRoots.MaxPathLength:N0}");
    }

    /// <summary>
    /// An inline skeleton comes from the network: every size that drives memory or compute is bounded.
    /// </summary>
    private static Skeleton CheckBounded(Skeleton s)
    {
        void Within(int value, int max, string what)
        {
            if (value > max)
                throw new SearchSpaceException($"the spec's skeleton: {what} is {value:N0}; at most {max:N0}");
        }
        Within(s.Name.Length, MaxNameChars, "the name's length");
        Within(s.InputSize, 1024, "inputSize");
        Within(s.InputChannels, 16, "inputChannels");
        Within(s.Classes, 100_000, "classes");
        Within(s.Stem.Width, 8192, "the stem's width");
        Within(s.Stem.Stride, 8, "the stem's stride");
        Within(s.HeadWidth, 8192, "headWidth");
        Within(s.Stages.Count, 32, "the number of stages");
        Within(s.Stages.Sum(st => st.MaxDepth), 128, "the number of blocks");
        foreach (var st in s.Stages)
        {
            Within(st.Width, 8192, "a stage's width");
            Within(st.Stride, 8, "a stage's stride");
            Within(st.Candidates?.Count ?? 0, 64, "a stage's number of candidates");
        }
        return s;
    }

    [System.Text.RegularExpressions.GeneratedRegex("^(cpu|cuda(:[0-9]{1,2})?)$",
        System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex DeviceSyntax();

    /// <summary>The budget of a spec that is no family (a family's members: <see cref="Budgets"/>).</summary>
    public static Budget Budget(ExperimentSpec spec) =>
        IsFamily(spec)
            ? throw new SearchSpaceException("a family spec has one budget per member (ExperimentSpecs.Budgets)")
            : spec.BudgetMFlops is null && spec.BudgetMParams is null && spec.BudgetMilliseconds is null
                ? throw new SearchSpaceException("the spec has no budget: resolve it first")
                : SearchSpace.Budget.Of(spec.BudgetMFlops, spec.BudgetMParams, spec.BudgetMilliseconds,
                    spec.MinFraction);

    /// <summary>
    /// Every limit of a spec's budget in words ("the preset's" before resolution fills it in); a family's members'
    /// budgets separated by semicolons.
    /// </summary>
    public static string DescribeBudget(ExperimentSpec spec) =>
        IsFamily(spec) ? string.Join("; ", Budgets(spec))
        : spec.BudgetMFlops is null && spec.BudgetMParams is null && spec.BudgetMilliseconds is null
            ? "the preset's"
            : Budget(spec).ToString();

    /// <summary>
    /// The weight-sharing schemes a spec may name (the engine's WeightSharing values), the default first.
    /// </summary>
    public static readonly IReadOnlyList<string> WeightSharings = ["entangled", "independent"];

    /// <summary>
    /// The spec's weight sharing in lower case, or the default when it names none; anything else is an error naming
    /// it.
    /// </summary>
    public static string Sharing(string? name) =>
        OneOf(WeightSharings, name, "weight sharing must be 'independent' or 'entangled'");

    /// <summary>What a spec may rank candidates by (the engine's CandidateRanking values), the default first.</summary>
    public static readonly IReadOnlyList<string> Rankings = ["loss", "top1"];

    /// <summary>
    /// The spec's ranking in lower case, or the default when it names none; anything else is an error naming it.
    /// </summary>
    public static string Ranking(string? name) => OneOf(Rankings, name, "rankBy must be 'loss' or 'top1'");

    /// <summary>
    /// One of <paramref name="names"/> (ignoring case; null: the first), else an error: the rule, then the value.
    /// </summary>
    private static string OneOf(IReadOnlyList<string> names, string? name, string rule) =>
        name is null ? names[0]
        : names.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new SearchSpaceException($"{rule}, got '{Shown(name, 32)}'");

    private static void InRange(int? value, int min, int max, string what)
    {
        if (value is not { } v || v < min || v > max)
            throw new SearchSpaceException($"{what} must be between {min:N0} and {max:N0}, got {value}");
    }
}
