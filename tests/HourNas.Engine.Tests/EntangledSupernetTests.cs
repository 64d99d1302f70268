using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using TorchSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

public class EntangledSupernetTests
{
    private static readonly ArchitectureSpace Space = new(Presets.Skeleton("fashion-mnist"));

    private static Tensor Param(nn.Module module, string name) =>
        module.named_parameters().Single(p => p.name == name).parameter;

    [Fact]
    public void A_smaller_candidate_is_the_centre_and_prefix_of_the_largest()
    {
        // Block 2 keeps width and resolution (identity shortcut): the test also covers the residual add.
        var block = Space.Blocks[2];
        var family = Space.Candidates[2].Where(o => o.Expansion > 1).ToArray();
        using var conv = new EntangledMBConv(block, family, Space.Skeleton.Style);
        conv.eval();
        using var x = randn(3, block.InWidth, block.InputSize, block.InputSize);
        conv.Active = Operation.Parse("k3e3");
        using var small = conv.call(x);

        // Zero every weight k3e3 does not use: the largest candidate must then compute exactly the same.
        var mid = block.InWidth * 3;
        using (no_grad())
        {
            var dw = Param(conv, "depthwise_weight");
            using var mask = zeros_like(dw);
            mask[TensorIndex.Slice(0, mid), TensorIndex.Colon, TensorIndex.Slice(2, 5), TensorIndex.Slice(2, 5)] = 1;
            dw.mul_(mask);
            Param(conv, "expand_weight")[TensorIndex.Slice(mid)].zero_();
            Param(conv, "project_weight")[TensorIndex.Colon, TensorIndex.Slice(mid)].zero_();
        }
        conv.Active = Operation.Parse("k7e6");
        using var large = conv.call(x);
        Assert.True(small.allclose(large, rtol: 1e-4, atol: 1e-5),
            "k7e6 with the unused weights zeroed differs from k3e3");
        // And the candidates do differ when the outer weights are not zero (the test can fail).
        using (no_grad()) Param(conv, "depthwise_weight").add_(0.1);
        using var changed = conv.call(x);
        Assert.False(small.allclose(changed, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void Every_entangled_network_of_a_space_has_the_same_shapes_so_stage2_inherits_all_of_stage1()
    {
        using var vital = SuperNet.Vital(Space, WeightSharing.Entangled);
        var vitalChoices = Presets.ResolveVitalChoices(Space, "k3e1 k5e3 k7e6 k3e3");
        using var stage2 = SuperNet.Shrunk(SpaceShrinker.Shrink(Space, Budget.FromMFlops(2.0), vitalChoices),
            WeightSharing.Entangled);
        var shared = stage2.state_dict().Keys.Intersect(vital.state_dict().Keys).ToArray();
        // The vital blocks' weights are there in both, for both families, though stage 2 fixed one candidate each.
        Assert.Contains("blocks.1.shared.expanded.depthwise_weight", shared);
        Assert.Contains("blocks.0.shared.plain.depthwise_weight", shared);
        Assert.Equal(shared.Length, stage2.InheritFrom(vital));
    }

    [Fact]
    public void An_entangled_supernet_holds_far_fewer_weights_than_an_independent_one()
    {
        using var independent = SuperNet.Full(Space);
        using var entangled = SuperNet.Full(Space, WeightSharing.Entangled);
        var a = independent.parameters().Sum(p => p.numel());
        var b = entangled.parameters().Sum(p => p.numel());
        Assert.True(b < a / 2, $"entangled {b:N0} parameters, independent {a:N0}");
        // The largest path has exactly as many parameters to train as its child network.
        var largest = Space.Parse("k7e6 | k7e6 k7e6 k7e6 | k7e6 k7e6 k7e6 | k7e6 k7e6");
        using var child = SuperNet.Child(Space, largest);
        var plainFamilies = entangled.parameters().Sum(p => p.numel()) - child.parameters().Sum(p => p.numel());
        Assert.True(plainFamilies > 0);
        entangled.SetPath(largest);
        using var y = entangled.call(randn(2, 1, 28, 28));
        Assert.Equal(new long[] { 2, 10 }, y.shape);
    }

    [Fact]
    public void Per_candidate_norms_keep_each_candidates_statistics_apart_while_the_convolutions_stay_shared()
    {
        var block = Space.Blocks[2];
        var family = Space.Candidates[2].Where(o => o.Expansion > 1).ToArray();
        using var conv = new EntangledMBConv(block, family, Space.Skeleton.Style, normPerCandidate: true);
        Assert.True(conv.NormPerCandidate);
        var names = conv.named_modules().Select(m => m.name).ToArray();
        // Every candidate has its own three norms, sized at its own expanded width; no shared norm is left.
        Assert.Equal(family.Length * 3, conv.modules().OfType<Networks.BatchNorm>().Count());
        Assert.DoesNotContain("depthwise_bn", names);
        var k3e3 = (Networks.BatchNorm)conv.named_modules().Single(m => m.name == "norms.k3e3.depthwise_bn").module;
        var k7e6 = (Networks.BatchNorm)conv.named_modules().Single(m => m.name == "norms.k7e6.depthwise_bn").module;
        Assert.Equal(block.InWidth * 3, k3e3.RunningMean.shape[0]);
        Assert.Equal(block.InWidth * 6, k7e6.RunningMean.shape[0]);
        // One convolution weight for the family, as with shared norms.
        Assert.Single(conv.named_parameters(), p => p.name == "depthwise_weight");

        conv.train();
        conv.Active = Operation.Parse("k3e3");
        using (no_grad()) conv.call(randn(8, block.InWidth, block.InputSize, block.InputSize) + 3).Dispose();
        Assert.True(k3e3.RunningMean.abs().sum().item<float>() > 0, "the active candidate's norm did not update");
        Assert.Equal(0, k7e6.RunningMean.abs().sum().item<float>());
    }

    [Fact]
    public void Kernels_apart_give_each_kernel_weights_its_own_candidates_alone_train()
    {
        using var net = SuperNet.Full(Space, WeightSharing.Entangled, kernelsApart: new HashSet<int> { 0 });
        Assert.Equal(new HashSet<int> { 0 }, net.KernelsApart);
        var names = net.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        // Block 0: one family per kernel and expansion family, each at its own kernel; block 1 stays entangled.
        foreach (var k in new[] { 3, 5, 7 })
        {
            Assert.Equal(k, names[$"blocks.0.shared.expanded_k{k}.depthwise_weight"].shape[3]);
            Assert.Equal(k, names[$"blocks.0.shared.plain_k{k}.depthwise_weight"].shape[3]);
        }
        Assert.DoesNotContain("blocks.0.shared.expanded.depthwise_weight", names.Keys);
        Assert.Equal(7, names["blocks.1.shared.expanded.depthwise_weight"].shape[3]);
        Assert.DoesNotContain(names.Keys, n => n.StartsWith("blocks.1.shared.expanded_k", StringComparison.Ordinal));

        // A k7 step in block 0 leaves the k3 weights alone; entangled, it would move the k3 centre too.
        var k7 = Space.Parse("k7e1 | k7e6 k7e6 k7e6 | k7e6 k7e6 k7e6 | k7e6 k7e6");
        net.SetPath(k7);
        var before = names.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        using (var y = net.call(randn(4, 1, 28, 28)))
        using (var loss = y.square().mean())
            loss.backward();
        using (no_grad())
            foreach (var p in net.ActiveParameters().Where(p => p.grad is not null))
                p.sub_(p.grad!);
        bool Moved(string name) => !before[name].allclose(names[name], rtol: 0, atol: 0);
        Assert.True(Moved("blocks.0.shared.plain_k7.depthwise_weight"));
        Assert.False(Moved("blocks.0.shared.plain_k3.depthwise_weight"));
        Assert.False(Moved("blocks.0.shared.plain_k5.depthwise_weight"));
        Assert.True(Moved("blocks.1.shared.expanded.depthwise_weight"));
        foreach (var t in before.Values) t.Dispose();

        // A kernel's own family still entangles expansions: e3 is the channel prefix of e6 at that kernel.
        Assert.Equal(Space.Blocks[0].InWidth * 6, names["blocks.0.shared.expanded_k3.depthwise_weight"].shape[0]);
    }

    [Fact]
    public void Kernels_apart_in_a_block_the_space_does_not_have_is_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            SuperNet.Full(Space, WeightSharing.Entangled, kernelsApart: new HashSet<int> { 0, 9 }));
        Assert.Contains("kernels apart in block 9", error.Message);
        Assert.Contains("blocks 0-8", error.Message);
        Assert.Contains("give 0 or more", Assert.Throws<ArgumentException>(() =>
            new Stages.SearchSettings(KernelsApartBlocks: -1).KernelsApart(Space)).Message);
        Assert.Equal(new HashSet<int> { 0, 1 }, new Stages.SearchSettings(KernelsApartBlocks: 2).KernelsApart(Space));
        Assert.Equal(9, new Stages.SearchSettings(KernelsApartBlocks: 50).KernelsApart(Space).Count);
        // Independent weights hold every candidate apart already: the set is empty, the layout unchanged.
        using var independent = SuperNet.Full(Space, kernelsApart: new HashSet<int> { 0 });
        Assert.Empty(independent.KernelsApart);
        Assert.Contains(independent.state_dict().Keys,
            k => k.StartsWith("blocks.0.ops.k7e1.", StringComparison.Ordinal));
    }

    [Fact]
    public void A_squeeze_excitation_style_runs_every_entangled_candidate()
    {
        var skeleton = Presets.Skeleton("smoke") with
        {
            Style = Presets.Skeleton("smoke").Style with
            {
                SqueezeExcitation = new SqueezeExcitation(0.25, SeBasis.Expanded)
            },
        };
        var space = new ArchitectureSpace(skeleton);
        using var net = SuperNet.Full(space, WeightSharing.Entangled);
        foreach (var op in space.Candidates[0])
        {
            net.SetPath(space.FromBlocks(space.Blocks
                .Select(b => space.Candidates[b.Index].Contains(op) ? op : space.Candidates[b.Index][0]).ToArray()));
            using var y = net.call(randn(2, skeleton.InputChannels, skeleton.InputSize, skeleton.InputSize));
            Assert.Equal(new long[] { 2, skeleton.Classes }, y.shape);
        }
    }
}

public class SupernetFileTests
{
    private static readonly ArchitectureSpace Space = new(Presets.Skeleton("fashion-mnist"));

    /// <summary>
    /// Counts one step of <paramref name="trained"/> in <paramref name="net"/>, saves and disposes it, and opens the
    /// file again; the reopened supernet must compute what the saved one did.
    /// </summary>
    private static SuperNet SavedAndReopened(SuperNet net, Genotype trained, string path)
    {
        using var x = randn(4, 1, 28, 28);
        Tensor expected;
        using (net)
        {
            net.SetPath(trained);
            net.CountStep();
            net.eval();
            expected = net.call(x);
            net.save(path);
        }
        var opened = SupernetFile.Open(Space, path);
        opened.SetPath(trained);
        opened.eval();
        using (expected)
        using (var actual = opened.call(x))
            Assert.True(expected.allclose(actual), "the reopened supernet computes otherwise than the saved one");
        return opened;
    }

    [Theory]
    [InlineData(WeightSharing.Independent)]
    [InlineData(WeightSharing.Entangled)]
    public void A_saved_supernet_opens_with_its_layout_options_and_step_counts(WeightSharing sharing)
    {
        using var dir = new TempFolder();
        var path = dir.File("vital.dat");
        using (var net = SuperNet.Vital(Space, sharing))
        {
            net.SetPath(Space.Parse("k3e3 | k5e6 skip skip | k3e1 skip skip | k7e3 skip"));
            net.CountStep();
            net.save(path);
        }
        using var opened = SupernetFile.Open(Space, path);
        Assert.Equal(sharing, opened.Sharing);
        Assert.All(Space.NonVitalBlocks, b => Assert.Equal([Operation.Skip], opened.Blocks[b].Options));
        Assert.Null(opened.CannotRun(Space.Parse("k3e3 | k5e6 skip skip | k3e1 skip skip | k7e3 skip")));
        // A bulb the vital supernet never held.
        Assert.Contains("block 2: this supernet holds no weights for 'k3e3'",
            opened.CannotRun(Space.Parse("k3e3 | k5e6 k3e3 skip | k3e1 skip skip | k7e3 skip")));
        // A vital candidate no step trained: independent weights need its own steps; entangled ones a trained
        // candidate of the same family at least as large (k5e6 covers k3e3, k3e1 is another family).
        var smaller = opened.CannotRun(Space.Parse("k3e3 | k3e3 skip skip | k3e1 skip skip | k7e3 skip"));
        if (sharing == WeightSharing.Independent) Assert.Contains("block 1: 'k3e3' was never trained", smaller);
        else Assert.Null(smaller);
        Assert.Contains("block 1: 'k7e6' was never trained",
            opened.CannotRun(Space.Parse("k3e3 | k7e6 skip skip | k3e1 skip skip | k7e3 skip")));
        Assert.Contains("block 1: 'k5e1' was never trained",
            opened.CannotRun(Space.Parse("k3e3 | k5e1 skip skip | k3e1 skip skip | k7e3 skip")));
    }

    [Fact]
    public void A_supernet_with_per_candidate_norms_opens_as_one_and_scores_only_candidates_that_trained()
    {
        using var dir = new TempFolder();
        var trained = Space.Parse("k3e3 | k5e6 skip skip | k3e1 skip skip | k7e3 skip");
        using var opened = SavedAndReopened(SuperNet.Vital(Space, WeightSharing.Entangled, normPerCandidate: true),
            trained, dir.File("vital.dat"));
        Assert.Equal(WeightSharing.Entangled, opened.Sharing);
        Assert.True(opened.NormPerCandidate);
        Assert.Contains(opened.state_dict().Keys, k => k.EndsWith(".norms.k5e6.depthwise_bn.weight"));
        Assert.Null(opened.CannotRun(trained));
        // k5e6 trained the convolution weights k3e3 slices, but not k3e3's own norms.
        Assert.Contains("block 1: 'k3e3' was never trained",
            opened.CannotRun(Space.Parse("k3e3 | k3e3 skip skip | k3e1 skip skip | k7e3 skip")));
        // A file with shared norms still opens as one.
        using (var shared = SuperNet.Vital(Space, WeightSharing.Entangled)) shared.save(dir.File("shared.dat"));
        using var sharedOpened = SupernetFile.Open(Space, dir.File("shared.dat"));
        Assert.False(sharedOpened.NormPerCandidate);
    }

    [Fact]
    public void A_supernet_with_kernels_apart_opens_as_one_and_a_kernel_covers_only_its_own_kernel()
    {
        using var dir = new TempFolder();
        var trained = Space.Parse("k7e6 | k7e6 skip skip | k3e1 skip skip | k7e3 skip");
        using var opened = SavedAndReopened(
            SuperNet.Vital(Space, WeightSharing.Entangled, kernelsApart: new HashSet<int> { 0 }), trained,
            dir.File("vital.dat"));
        Assert.Equal(WeightSharing.Entangled, opened.Sharing);
        Assert.Equal(new HashSet<int> { 0 }, opened.KernelsApart);
        Assert.Equal(Space.Candidates[0], opened.Blocks[0].Options);
        // Block 0 keeps its kernels apart: k7e6 trained no weights of k3e3 there; in entangled block 1 it did.
        Assert.Null(opened.CannotRun(Space.Parse("k7e3 | k3e3 skip skip | k3e1 skip skip | k7e3 skip")));
        Assert.Contains("block 0: 'k3e3' was never trained",
            opened.CannotRun(Space.Parse("k3e3 | k7e6 skip skip | k3e1 skip skip | k7e3 skip")));
    }

    [Fact]
    public void Loaded_weights_are_the_saved_ones()
    {
        using var dir = new TempFolder();
        var path = dir.File("full.dat");
        var g = Space.Parse("k5e3 | k3e6 skip k5e1 | k7e3 k3e3 skip | k3e6 k5e3");
        using var x = randn(4, 1, 28, 28);
        using var net = SuperNet.Full(Space, WeightSharing.Entangled);
        net.SetPath(g);
        net.eval();
        using var expected = net.call(x);
        net.save(path);
        using var opened = SupernetFile.Open(Space, path);
        opened.SetPath(g);
        opened.eval();
        using var actual = opened.call(x);
        Assert.True(expected.allclose(actual));
    }

    [Fact]
    public void A_file_that_is_no_supernet_of_the_preset_is_a_clear_error()
    {
        using var dir = new TempFolder();
        Assert.Contains("do not exist",
            Assert.Throws<FileNotFoundException>(() => SupernetFile.Open(Space, dir.File("none.dat"))).Message);

        var garbage = dir.File("garbage.dat");
        File.WriteAllBytes(garbage, [.. Enumerable.Range(0, 64).Select(i => (byte)(i * 37))]);
        Assert.Contains("is not a TorchSharp weights file",
            Assert.Throws<InvalidDataException>(() => SupernetFile.Open(Space, garbage)).Message);

        var truncated = dir.File("truncated.dat");
        using (var net = SuperNet.Vital(Space)) net.save(truncated);
        var bytes = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.Contains("runs past the end",
            Assert.Throws<InvalidDataException>(() => SupernetFile.Open(Space, truncated)).Message);

        var other = dir.File("cifar.dat");
        using (var net = SuperNet.Vital(new ArchitectureSpace(Presets.Skeleton("cifar10")))) net.save(other);
        var wrong = Assert.Throws<InvalidDataException>(() => SupernetFile.Open(Space, other)).Message;
        Assert.Contains("does not fit preset 'fashion-mnist'", wrong);
        Assert.Contains("stem.conv.weight", wrong);
    }
}
