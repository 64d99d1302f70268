using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class ProposalTests
{
    public static TheoryData<string, double, double> Targets => new()
    {
        { "imagenet", 400, 0.9 },
        { "imagenet", 300, 0.8 },
        { "fashion-mnist", 3, 0.9 },
        { "fashion-mnist", 1.5, 0.5 },
        { "cifar10", 20, 0.9 },
    };

    [Theory]
    [MemberData(nameof(Targets))]
    public void Expected_cost_hits_the_target(string preset, double budgetMFlops, double minFraction)
    {
        var space = new ArchitectureSpace(Presets.Skeleton(preset));
        var shrunk = SpaceShrinker.Shrink(space, Budget.FromMFlops(budgetMFlops, minFraction));
        foreach (var target in new[] { Proposal.DefaultTarget(shrunk.Budget), shrunk.Budget.MaxMacs * 0.97 })
        {
            var proposal = Proposal.MaxEntropy(shrunk, target);
            Assert.True(Math.Abs(proposal.ExpectedMacs - target) <= 0.005 * target,
                $"expected {proposal.ExpectedMacs / 1e6:F3} vs target {target / 1e6:F3} MFLOPs");
            Assert.All(proposal.Probabilities, p => Assert.Equal(1.0, p.Sum(), 9));
        }
    }

    [Fact]
    public void Probabilities_follow_the_exponential_family()
    {
        var shrunk = SpaceShrinker.Shrink(new ArchitectureSpace(Presets.Skeleton("fashion-mnist")),
            Budget.FromMFlops(2, 0.8));
        var proposal = Proposal.MaxEntropy(shrunk);
        // log p(o) - log p(o') = -lambda (c(o) - c(o')) for every pair in a block.
        for (var b = 0; b < shrunk.Allowed.Count; b++)
            for (var o = 1; o < shrunk.Allowed[b].Count; o++)
            {
                var lhs = Math.Log(proposal.Probabilities[b][o]) - Math.Log(proposal.Probabilities[b][0]);
                var rhs = -proposal.Lambda * (shrunk.BlockMacs(b, o) - shrunk.BlockMacs(b, 0)) / 1e6;
                Assert.Equal(rhs, lhs, 6);
            }
    }

    [Fact]
    public void A_low_target_favours_cheap_operations_and_a_high_one_dear_ones()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var shrunk = SpaceShrinker.Shrink(space, Budget.FromMFlops(6, 0));
        var low = Proposal.MaxEntropy(shrunk, 1.0e6);
        var high = Proposal.MaxEntropy(shrunk, 5.5e6);
        Assert.True(low.Lambda > 0);
        Assert.True(high.Lambda < 0);
    }

    [Fact]
    public void Samples_fall_in_the_window_and_are_deterministic()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        var shrunk = SpaceShrinker.Shrink(space, Budget.FromMFlops(400));
        var sampler = new ArchitectureSampler(Proposal.MaxEntropy(shrunk));
        var a = Enumerable.Range(0, 50).Select(_ => sampler.Sample(new Rng(7))).ToArray();
        var rng1 = new Rng(11);
        var rng2 = new Rng(11);
        var s1 = Enumerable.Range(0, 200).Select(_ => sampler.Sample(rng1)).ToArray();
        var s2 = Enumerable.Range(0, 200).Select(_ => sampler.Sample(rng2)).ToArray();
        Assert.Equal(s1, s2);
        Assert.All(s1, c => Assert.True(shrunk.InWindow(c)));
        Assert.All(a, c => Assert.Equal(a[0], c));
        Assert.Equal(450, sampler.Accepted);
        Assert.InRange(sampler.AcceptanceRate, 0.05, 1.0);
        Assert.InRange(sampler.MeasureAcceptance(new Rng(3), 5000), 0.05, 1.0);
    }

    [Fact]
    public void The_proposal_accepts_more_than_uniform_sampling_of_the_whole_space()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        var vital = space.VitalBlocks.ToDictionary(b => b,
            b => Presets.Resolve("imagenet", "hournas-f").Genotype.Blocks[b]);
        var budget = Budget.FromMFlops(350);
        var full = SpaceShrinker.Shrink(space, budget, vital);
        var proposal = new ArchitectureSampler(Proposal.MaxEntropy(full)).MeasureAcceptance(new Rng(1), 5000);
        var uniform = new ArchitectureSampler(Proposal.Uniform(full)).MeasureAcceptance(new Rng(1), 5000);
        Assert.True(proposal > uniform, $"proposal {proposal:P1} vs uniform {uniform:P1}");
    }

    [Fact]
    public void A_target_outside_the_window_is_rejected()
    {
        var shrunk = SpaceShrinker.Shrink(new ArchitectureSpace(Presets.Skeleton("fashion-mnist")),
            Budget.FromMFlops(3));
        Assert.Throws<SearchSpaceException>(() => Proposal.MaxEntropy(shrunk, 3.5e6));
    }
}
