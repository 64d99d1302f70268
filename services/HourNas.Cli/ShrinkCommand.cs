using System.CommandLine;
using System.Diagnostics;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

internal static class ShrinkCommand
{
    public sealed record CandidateInfo(
        string Op, double MFlops, long Params, bool Kept, double? Probability, string? DroppedBecause);

    public sealed record BlockInfo(
        int Block, int Stage, bool Vital, bool Fixed, IReadOnlyList<CandidateInfo> Candidates);

    public sealed record Report(
        string Preset,
        double BudgetMFlops,
        double MinMFlops,
        double FixedMFlops,
        IReadOnlyDictionary<int, string>? VitalChoices,
        string ArchitecturesInSpace,
        string ArchitecturesAfterPruning,
        string ArchitecturesInWindow,
        double ShrinkRatio,
        bool CountIsExact,
        long CountResolutionMacs,
        double ProposalTargetMFlops,
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
        var budget = new Option<double>("--budget-mflops", "-b")
        {
            Description = "FLOPs budget B (multiply-adds, in millions)",
            Required = true,
        };
        var minFraction = new Option<double>("--min-fraction")
        {
            Description = "lower end of the window as a fraction of B",
            DefaultValueFactory = _ => Budget.DefaultMinFraction,
        };
        var vital = new Option<string?>("--vital-genotype")
        {
            Description = "fix the vital blocks: their operations in order, a whole genotype, or a genotype name",
        };
        var target = new Option<double?>("--target-mflops")
        {
            Description = "the proposal's expected cost (default: the middle of the window)",
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
            "shrink the search space to a FLOPs budget and build the max-entropy proposal")
        {
            preset, budget, minFraction, vital, target, samples, seed, json,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            var report = Build(parse.GetValue(preset)!, parse.GetValue(budget), parse.GetValue(minFraction),
                parse.GetValue(vital), parse.GetValue(target), parse.GetValue(samples), parse.GetValue(seed));
            if (parse.GetValue(json)) cli.WriteJson(report);
            else Render(cli.Console, report);
            return 0;
        }));
        return command;
    }

    internal static Report Build(string preset, double budgetMFlops, double minFraction, string? vitalSpec,
        double? targetMFlops, int samples, ulong seed)
    {
        if (samples < 1) throw new SearchSpaceException($"--samples must be at least 1, got {samples}");
        var space = new ArchitectureSpace(Presets.Skeleton(preset));
        var clock = Stopwatch.StartNew();
        var vital = vitalSpec is null ? null : Presets.ResolveVitalChoices(space, vitalSpec);
        var shrunk = SpaceShrinker.Shrink(space, Budget.FromMFlops(budgetMFlops, minFraction), vital);
        var proposal = Proposal.MaxEntropy(shrunk, targetMFlops * 1e6);
        var acceptance = new ArchitectureSampler(proposal).MeasureAcceptance(new Rng(seed), samples);
        var seconds = clock.Elapsed.TotalSeconds;
        var uniform = new ArchitectureSampler(Proposal.Uniform(shrunk)).MeasureAcceptance(new Rng(seed), samples);

        var blocks = shrunk.Verdicts.Select(v =>
        {
            var keptIndex = 0;
            return new BlockInfo(v.Block, space.Blocks[v.Block].Stage + 1, v.Vital, v.Fixed, v.Candidates.Select(c =>
                new CandidateInfo(c.Op.ToString(), c.Cost.MFlops, c.Cost.Params, c.Kept,
                    c.Kept ? proposal.Probabilities[v.Block][keptIndex++] : null, c.DroppedBecause)).ToArray());
        }).ToArray();
        return new Report(space.Skeleton.Name, shrunk.Budget.MaxMFlops, shrunk.Budget.MinMFlops, shrunk.FixedMacs / 1e6,
            vital?.ToDictionary(x => x.Key, x => x.Value.ToString()),
            shrunk.SpaceSize.ToString(), shrunk.ShrunkSize.ToString(), shrunk.ArchitecturesInWindow.ToString(),
            shrunk.ShrinkRatio, shrunk.CountIsExact, shrunk.CountResolutionMacs, proposal.TargetMacs / 1e6,
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
        console.WriteLine($"preset {r.Preset}: window [{r.MinMFlops:F2}, {r.BudgetMFlops:F2}] MFLOPs " +
            $"(stem, head and classifier: {r.FixedMFlops:F2})");
        console.WriteLine($"architectures: {r.ArchitecturesInSpace} in the space, " +
            $"{r.ArchitecturesAfterPruning} after pruning, {r.ArchitecturesInWindow} inside the window");
        console.WriteLine($"shrink ratio (inside the window / whole space): {r.ShrinkRatio:G4}" +
            (r.CountIsExact ? " (exact count)" : $" (count on a {r.CountResolutionMacs:N0}-multiply-add cost grid)"));
        console.WriteLine($"proposal: target {r.ProposalTargetMFlops:F2} MFLOPs, " +
            $"expected {r.ProposalExpectedMFlops:F2}, lambda {r.ProposalLambda:G4} per MFLOP");
        console.WriteLine($"acceptance over {r.AcceptanceSamples:N0} draws: proposal {r.AcceptanceRate:P1}, " +
            $"uniform over the pruned space {r.UniformAcceptanceRate:P1}");
        console.WriteLine($"computed in {r.Seconds * 1000:F0} ms");
    }
}
