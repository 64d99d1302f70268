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

    private static readonly BlockStyle Plain = new(Activation.ReLU, null, ExpandAtRatioOne: false);

    private static Operation[] Ops(string text) => text.Split(' ').Select(Operation.Parse).ToArray();

    [Fact]
    public void Balancing_gives_each_expansion_family_half_the_mbconv_mass_and_leaves_skip_alone()
    {
        var ops = Ops("k3e1 k5e1 k7e1 k3e3 k5e3 k7e3 k3e6 k5e6 k7e6 skip");
        double[] p = [0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.1];
        var balanced = Proposal.BalanceFamilies(ops, p, Plain);
        Assert.Equal(0.45, balanced[..3].Sum(), 9);
        Assert.Equal(0.45, balanced[3..9].Sum(), 9);
        Assert.Equal(0.1, balanced[9], 12);
        // Within a family the given proportions hold.
        Assert.Equal(2 * balanced[0], balanced[2], 12);
        Assert.Equal(2 * balanced[3], balanced[8], 12);
        Assert.Equal(1.0, balanced.Sum(), 9);
    }

    [Fact]
    public void Balancing_does_not_revive_a_family_the_probabilities_ruled_out()
    {
        var ops = Ops("k3e1 k3e3 k3e6 skip");
        var balanced = Proposal.BalanceFamilies(ops, [0.0, 0.3, 0.5, 0.2], Plain);
        Assert.Equal([0.0, 0.3, 0.5, 0.2], balanced);
    }

    [Fact]
    public void Under_a_style_that_expands_at_ratio_one_every_mbconv_is_one_family()
    {
        var expanding = Plain with { ExpandAtRatioOne = true };
        var ops = Ops("k3e1 k3e3 k3e6");
        Assert.Equal([0.2, 0.3, 0.5], Proposal.BalanceFamilies(ops, [0.2, 0.3, 0.5], expanding));
    }

    [Fact]
    public void Balancing_rejects_a_probability_count_that_does_not_match_the_operations()
    {
        var ex = Assert.Throws<ArgumentException>(() => Proposal.BalanceFamilies(Ops("k3e1 k3e3"), [1.0], Plain));
        Assert.Contains("2 operations but 1 probabilities", ex.Message);
    }

    [Fact]
    public void A_balanced_proposal_draws_the_no_expansion_family_half_the_time()
    {
        var space = SpaceShrinker.Shrink(new ArchitectureSpace(Presets.Skeleton("fashion-mnist")),
            Budget.FromMFlops(6, 0));
        var uniform = Proposal.Uniform(space);
        var style = space.Space.Skeleton.Style;
        var balanced = uniform.WithFamiliesBalanced(style);
        var sampler = new ArchitectureSampler(balanced);
        var rng = new Rng(3);
        int e1 = 0, mbconv = 0;
        for (var i = 0; i < 4000; i++)
        {
            var choice = sampler.Draw(rng);
            for (var b = 0; b < choice.Length; b++)
            {
                var op = space.Allowed[b][choice[b]];
                if (op.IsSkip) continue;
                mbconv++;
                if (!CostModel.HasExpansion(style, op)) e1++;
            }
        }
        Assert.InRange((double)e1 / mbconv, 0.47, 0.53);
        Assert.Equal(uniform.Lambdas, balanced.Lambdas);
    }
}
