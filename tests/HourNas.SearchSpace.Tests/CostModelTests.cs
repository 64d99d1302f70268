using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class CostModelTests
{
    private static Cost TotalOf(string genotype, string? preset = null)
    {
        var (space, g) = Presets.Resolve(preset, genotype);
        return space.Costs.Of(g).Total;
    }

    private static void Within(double expected, double actual, double fraction) =>
        Assert.True(Math.Abs(actual - expected) <= expected * fraction,
            $"expected {expected:N0} within {fraction:P1}, got {actual:N0} ({(actual - expected) / expected:P2})");

    [Fact]
    public void HourNasF_matches_the_released_model()
    {
        var total = TotalOf("hournas-f", "imagenet");
        Within(383e6, total.Macs, 0.01);
        Within(5.34e6, total.Params, 0.01);
    }

    [Fact]
    public void The_released_cifar10_HourNasF_counts_exactly_as_an_independent_count()
    {
        // 22 blocks, SE 0.05 of the expanded width, stem 32 at stride 1, strides 2 at the 80- and 192-wide stages.
        var (space, genotype) = Presets.Resolve("cifar10-hournas-f", "hournas-f-c10");
        Assert.Equal(22, genotype.Blocks.Count(op => !op.IsSkip));
        var total = space.Costs.Of(genotype).Total;
        Assert.Equal(393_409_872, total.Macs);
        Assert.Equal(4_084_272, total.Params);
        Assert.Equal(8, space.Skeleton.Stages.Aggregate(space.Skeleton.InputSize, (size, s) => size / s.Stride));
    }

    [Fact]
    public void EfficientNetB0_matches_its_published_counts()
    {
        var total = TotalOf("efficientnet-b0", "imagenet");
        Within(5_288_548, total.Params, 0.005);
        Within(390e6, total.Macs, 0.02);
    }

    [Fact]
    public void MobileNetV2_matches_its_published_counts()
    {
        var total = TotalOf("mobilenetv2");
        Within(3_504_872, total.Params, 0.005);
        Within(300e6, total.Macs, 0.02);
    }

    [Fact]
    public void One_block_matches_a_hand_count()
    {
        // fashion-mnist block 1: 16 -> 24 channels, stride 2, 14x14 -> 7x7, k3e6 (expanded width 96), no SE.
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        var cost = space.Costs.Block(1, Operation.Parse("k3e6"));
        const long expand = 16 * 96, depthwise = 96 * 9, project = 96 * 24;
        Assert.Equal(expand + depthwise + project + 2 * (96 + 96 + 24), cost.Params);
        Assert.Equal(expand * 14 * 14 + depthwise * 7 * 7 + project * 7 * 7, cost.Macs);
    }

    [Fact]
    public void Se_and_ratio_one_expansion_follow_the_block_style()
    {
        var skeleton = Presets.Skeleton("fashion-mnist");
        var plain = new ArchitectureSpace(skeleton).Costs.Block(2, Operation.Parse("k3e1"));
        var expanded = new ArchitectureSpace(skeleton with { Style = skeleton.Style with { ExpandAtRatioOne = true } })
            .Costs.Block(2, Operation.Parse("k3e1"));
        // Block 2 is 24 -> 24 at 7x7: the kept 1x1 expansion adds 24*24 weights, 48 BN params, 24*24*49 MACs.
        Assert.Equal(plain.Params + 24 * 24 + 48, expanded.Params);
        Assert.Equal(plain.Macs + 24 * 24 * 49, expanded.Macs);

        var se = new ArchitectureSpace(
                skeleton with { Style = skeleton.Style with { SqueezeExcitation = new(0.25, SeBasis.Input) } })
            .Costs.Block(2, Operation.Parse("k3e6"));
        var noSe = new ArchitectureSpace(skeleton).Costs.Block(2, Operation.Parse("k3e6"));
        // SE on 144 expanded channels reduced to floor(24 * 0.25) = 6: 144*6 + 6 + 6*144 + 144 params.
        Assert.Equal(noSe.Params + 144 * 6 + 6 + 6 * 144 + 144, se.Params);
        Assert.Equal(noSe.Macs + 2 * 144 * 6, se.Macs);
    }

    [Fact]
    public void Total_is_the_sum_of_its_parts_and_skip_is_free()
    {
        var (space, g) = Presets.Resolve("fashion-mnist", "manual");
        var cost = space.Costs.Of(g);
        Assert.Equal(cost.Stem + cost.Head + cost.Classifier + cost.Blocks.Aggregate(Cost.Zero, (a, b) => a + b),
            cost.Total);
        Assert.All(g.Blocks.Select((op, i) => (op, i)).Where(x => x.op.IsSkip),
            x => Assert.Equal(Cost.Zero, cost.Blocks[x.i]));
        Assert.Equal(space.Costs.Fixed, cost.Stem + cost.Head + cost.Classifier);
    }
}
