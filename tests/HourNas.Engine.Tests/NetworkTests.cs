using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

public class NetworkTests
{
    [Theory]
    [InlineData("imagenet", "hournas-f")]
    [InlineData("imagenet", "efficientnet-b0")]
    [InlineData("mobilenetv2", "mobilenetv2")]
    [InlineData("fashion-mnist", "manual")]
    [InlineData("cifar10", "manual")]
    public void Child_parameter_count_equals_the_cost_model(string preset, string genotype)
    {
        var (space, g) = Presets.Resolve(preset, genotype);
        using var net = SuperNet.Child(space, g);
        var count = net.parameters().Sum(p => p.numel());
        Assert.Equal(space.Costs.Of(g).Total.Params, count);
    }

    [Fact]
    public void Supernet_active_path_counts_like_the_child_and_runs()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        using var net = SuperNet.Full(space);
        var rng = new Rng(1);
        for (var i = 0; i < 5; i++)
        {
            var choice = space.Candidates.Select(c => rng.NextInt(c.Count)).ToArray();
            net.SetPath(choice);
            var g = net.ActiveGenotype;
            Assert.Equal(space.Costs.Of(g).Total.Params, net.ActiveParameters().Sum(p => p.numel()));
            using var y = net.call(randn(2, 1, 28, 28));
            Assert.Equal(new long[] { 2, 10 }, y.shape);
        }
    }

    [Fact]
    public void Vital_supernet_holds_only_vital_candidates()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        using var net = SuperNet.Vital(space);
        Assert.All(space.NonVitalBlocks, b => Assert.Equal([Operation.Skip], net.Blocks[b].Options));
        Assert.All(space.VitalBlocks, b => Assert.Equal(9, net.Blocks[b].Options.Count));
    }

    [Fact]
    public void A_child_inherits_exactly_the_supernet_weights_of_its_path()
    {
        var (space, g) = Presets.Resolve("fashion-mnist", "manual");
        using var super = SuperNet.Full(space);
        super.SetPath(g);
        super.eval();
        using var child = SuperNet.Child(space, g);
        child.eval();
        var copied = child.InheritFrom(super);
        Assert.Equal(child.state_dict().Count, copied);
        using var x = randn(4, 1, 28, 28);
        using var a = super.call(x);
        using var b = child.call(x);
        Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Ablation_passes_residual_blocks_through_and_zeroes_vital_ones()
    {
        var (space, g) = Presets.Resolve("fashion-mnist", "manual");
        using var net = SuperNet.Child(space, g);
        net.eval();
        using var x = randn(2, 1, 28, 28);
        using var before = net.call(x);
        // Block 2 (non-vital, k3e3) ablated behaves as skip: same output as the genotype with skip there.
        net.Blocks[2].ActiveModule!.Ablated = true;
        using var ablated = net.call(x);
        using var skipped = SuperNet.Child(space, space.Parse("k3e1 | k3e6 skip skip | k5e6 k3e3 skip | k3e6 k3e3"));
        skipped.InheritFrom(net);
        skipped.eval();
        using var reference = skipped.call(x);
        Assert.True(ablated.allclose(reference, rtol: 1e-5, atol: 1e-6));
        Assert.False(ablated.allclose(before));
        // A vital block ablated outputs zeros, so every input gives the same logits.
        net.Blocks[2].ActiveModule!.Ablated = false;
        net.Blocks[4].ActiveModule!.Ablated = true;
        using var y = net.call(randn(2, 1, 28, 28));
        Assert.True(y[0].allclose(y[1]));
    }
}
