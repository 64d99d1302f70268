using System.CommandLine;
using System.Diagnostics;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

internal static class ShrinkCommand
{
    public sealed record CandidateInfo(
        string Op, double MFlops, long Params, double? Milliseconds, bool Kept, double? Probability,
        string? DroppedBecause);

    /// <summary>
    /// One limit of the budget: its window, the cheapest and dearest network left in that metric, and the
    /// proposal's target, expectation and multiplier (per display unit), all in display units.
    /// </summary>
    public sealed record LimitInfo(string Metric, string Unit, double Min, double Max, double Cheapest,
        double Dearest, double ProposalTarget, double ProposalExpected, double ProposalLambda);

    public sealed record BlockInfo(
        int Block, int Stage, bool Vital, bool Fixed, IReadOnlyList<CandidateInfo> Candidates);

    public sealed record Report(
        string Preset,
        string Budget,
        IReadOnlyList<LimitInfo> Limits,
        double BudgetMFlops,
        double MinMFlops,
        double FixedMFlops,
        IReadOnlyDictionary<int, string>? VitalChoices,
        string ArchitecturesInSpace,
        string ArchitecturesAfterPruning,
        string ArchitecturesInWindow,
        double ShrinkRatio,
        bool CountIsExact,
        string CountMethod,
        double? ProposalTargetMFlops,
        double ProposalExpectedMFlops,
        double ProposalLambda,
        int AcceptanceSamples,
        double AcceptanceRate,
        double UniformAcceptanceRate,
        double Seconds,
        IReadOnlyList<BlockInfo> Blocks);

    public static Command Create(HournasCli cli)
    {
        var preset = HournasCli.Options.Preset(required: true);
        var budget = new BudgetOptions("FLOPs budget B (multiply-adds, in millions)", fractionDefault: true);
        var vital = new Option<string?>("--vital-genotype")
        {
            Description = "fix the vital blocks: their operations in order, a whole genotype, or a genotype name",
        };
        var target = new Option<double?>("--target-mflops")
        {
            Description = "the proposal's expected FLOPs (default: the middle of the window; needs a FLOPs budget)",
        };
        var samples = new Option<int>("--samples")
        {
            Description = "draws used to measure the acceptance rate",
            DefaultValueFactory = _ => 10_000,
        };
        var seed = new Option<ulong>("--seed")
        {
            Description = "random seed for the acceptance measurement",
            DefaultValueFactory = _ => 0,
        };
        var json = HournasCli.Options.Json();
        var command = new Command("shrink",
            "shrink the search space to a budget (FLOPs, parameters, latency) and build the max-entropy proposal")
        {
            preset, vital, target, samples, seed, json,
        };
        budget.AddTo(command);
        command.SetAction(parse => cli.Guard(() =>
        {
            var window = budget.Read(parse) ?? throw new SearchSpaceException(
                "shrink needs a budget: --budget-mflops, --budget-mparams or --budget-ms");
            var space = budget.Space(parse, new ArchitectureSpace(Presets.Skeleton(parse.GetValue(preset)!)));
            var report = Build(space, window, parse.GetValue(vital), parse.GetValue(target), parse.GetValue(samples),
                parse.GetValue(seed));
            if (parse.GetValue(json)) cli.WriteJson(report);
            else Render(cli.Console, report);
            return 0;
        }));
        return command;
    }

    internal static Report Build(string preset, double budgetMFlops, double minFraction, string? vitalSpec,
        double? targetMFlops, int samples, ulong seed) =>
        Build(new ArchitectureSpace(Presets.Skeleton(preset)), Budget.FromMFlops(budgetMFlops, minFraction),
            vitalSpec, targetMFlops, samples, seed);

    internal static Report Build(ArchitectureSpace space, Budget budget, string? vitalSpec, double? targetMFlops,
        int samples, ulong seed)
    {
        if (samples < 1) throw new SearchSpaceException($"--samples must be at least 1, got {samples}");
        if (targetMFlops is not null && budget.Primary.Metric != CostMetric.Flops)
            throw new SearchSpaceException("--target-mflops needs a FLOPs budget (--budget-mflops)");
        var clock = Stopwatch.StartNew();
        var vital = vitalSpec is null ? null : Presets.ResolveVitalChoices(space, vitalSpec);
        var shrunk = SpaceShrinker.Shrink(space, budget, vital);
        var proposal = Proposal.MaxEntropy(shrunk, targetMFlops * 1e6);
        var acceptance = new ArchitectureSampler(proposal).MeasureAcceptance(new Rng(seed), samples);
        var seconds = clock.Elapsed.TotalSeconds;
        var uniform = new ArchitectureSampler(Proposal.Uniform(shrunk)).MeasureAcceptance(new Rng(seed), samples);

        var blocks = shrunk.Verdicts.Select(v =>
        {
            var keptIndex = 0;
            return new BlockInfo(v.Block, space.Blocks[v.Block].Stage + 1, v.Vital, v.Fixed, v.Candidates.Select(c =>
                new CandidateInfo(c.Op.ToString(), c.Cost.MFlops, c.Cost.Params,
                    space.Costs.Latencies is null ? null : c.Cost.Milliseconds, c.Kept,
                    c.Kept ? proposal.Probabilities[v.Block][keptIndex++] : null, c.DroppedBecause)).ToArray());
        }).ToArray();
        var limits = budget.Limits.Select((l, d) =>
        {
            var scale = CostMetrics.Scale(l.Metric);
            return new LimitInfo(l.Metric.ToString().ToLowerInvariant(), CostMetrics.Unit(l.Metric), l.Min / scale,
                l.Max / scale, shrunk.Min(l.Metric) / scale, shrunk.Max(l.Metric) / scale,
                proposal.Targets[d] / scale, proposal.Expected[d] / scale, proposal.Lambdas[d]);
        }).ToArray();
        var (minMFlops, maxMFlops) = shrunk.MFlopsWindow;
        return new Report(space.Skeleton.Name, budget.ToString(), limits, maxMFlops, minMFlops,
            shrunk.FixedMacs / 1e6, vital?.ToDictionary(x => x.Key, x => x.Value.ToString()),
            shrunk.SpaceSize.ToString(), shrunk.ShrunkSize.ToString(), shrunk.ArchitecturesInWindow.ToString(),
            shrunk.ShrinkRatio, shrunk.CountIsExact, shrunk.CountMethod,
            budget.Primary.Metric == CostMetric.Flops ? proposal.TargetMacs / 1e6 : null,
            proposal.ExpectedMacs / 1e6, proposal.Lambda, samples, acceptance, uniform, seconds, blocks);
    }

    private static void Render(IAnsiConsole console, Report r)
    {
        var table = new Table()
            .AddColumns("block", "stage", "", "affordable candidates: probability (MFLOPs)", "dropped");
        foreach (var b in r.Blocks)
        {
            var kept = string.Join("  ",
                b.Candidates.Where(c => c.Kept).Select(c => $"{c.Op}:{c.Probability:F2} ({c.MFlops:F2})"));
            var dropped = string.Join(" ", b.Candidates.Where(c => !c.Kept).Select(c => c.Op));
            table.AddRow($"{b.Block}", $"{b.Stage}", b.Fixed ? "fixed" : b.Vital ? "vital" : "", kept, dropped);
        }
        console.Write(table);
        console.WriteLine($"preset {r.Preset}: budget {r.Budget} " +
            $"(stem, head and classifier: {r.FixedMFlops:F2} MFLOPs)");
        console.WriteLine($"architectures: {r.ArchitecturesInSpace} in the space, " +
            $"{r.ArchitecturesAfterPruning} after pruning, {r.ArchitecturesInWindow} inside the window");
        console.WriteLine($"shrink ratio (inside the window / whole space): {r.ShrinkRatio:G4}" +
            $" ({r.CountMethod})");
        foreach (var l in r.Limits)
            console.WriteLine($"{l.Metric}: reachable {l.Cheapest:G4} - {l.Dearest:G4} {l.Unit}; proposal target " +
                $"{l.ProposalTarget:G4}, expected {l.ProposalExpected:G4}, lambda {l.ProposalLambda:G4} per {l.Unit}" +
                (l.ProposalLambda == 0 && l != r.Limits[0] ? " (slack)" : ""));
        console.WriteLine($"acceptance over {r.AcceptanceSamples:N0} draws: proposal {r.AcceptanceRate:P1}, " +
            $"uniform over the pruned space {r.UniformAcceptanceRate:P1}");
        console.WriteLine($"computed in {r.Seconds * 1000:F0} ms");
    }
}
