using BenchmarkDotNet.Attributes;
using HourNas.SearchSpace;

namespace HourNas.Benchmarks;

/// <summary>What 'hournas shrink' computes on the ImageNet space (22 blocks, 4.8e21 architectures).</summary>
[MemoryDiagnoser]
public class ShrinkBenchmarks
{
    private ArchitectureSpace _space = null!;
    private IReadOnlyDictionary<int, Operation> _vital = null!;
    private ShrunkSpace _shrunk = null!;

    [Params(400.0, 320.0)]
    public double BudgetMFlops { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        _vital = Presets.ResolveVitalChoices(_space, "hournas-f");
        _shrunk = SpaceShrinker.Shrink(_space, Budget.FromMFlops(BudgetMFlops));
    }

    [Benchmark(Description = "shrink whole space (prune + DP count)")]
    public ShrunkSpace ShrinkWholeSpace() => SpaceShrinker.Shrink(_space, Budget.FromMFlops(BudgetMFlops));

    [Benchmark(Description = "shrink bulbs, vital blocks fixed")]
    public ShrunkSpace ShrinkWithVitalFixed() => SpaceShrinker.Shrink(_space, Budget.FromMFlops(BudgetMFlops), _vital);

    [Benchmark(Description = "max-entropy proposal (bisection)")]
    public Proposal MaxEntropyProposal() => Proposal.MaxEntropy(_shrunk);

    [Benchmark(Description = "whole 'shrink' command: shrink + proposal + 10k acceptance draws")]
    public double ShrinkCommand()
    {
        var shrunk = SpaceShrinker.Shrink(_space, Budget.FromMFlops(BudgetMFlops), _vital);
        return new ArchitectureSampler(Proposal.MaxEntropy(shrunk)).MeasureAcceptance(new Rng(0), 10_000);
    }
}
