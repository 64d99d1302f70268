using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class VitalBlockTests
{
    [Fact]
    public void Imagenet_vital_blocks_are_the_first_of_each_stage()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        Assert.Equal([0, 1, 5, 9, 13, 17, 21], space.VitalBlocks);
        Assert.Equal(22, space.Blocks.Count);
    }

    [Fact]
    public void MobileNetV2_vital_blocks()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("mobilenetv2"));
        Assert.Equal([0, 1, 3, 6, 10, 13, 16], space.VitalBlocks);
    }

    [Fact]
    public void A_long_skip_around_a_stage_makes_its_blocks_non_vital()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        var graph = BlockGraph.FromBlocks(space.Blocks);
        // Stage 3 is blocks 5..8: a shortcut from feature map 5 (its input) to 9 (its output) bypasses all of it.
        graph.AddShortcut(5, 9);
        Assert.Equal([0, 1, 9, 13, 17, 21], graph.VitalBlocks());
    }

    [Fact]
    public void A_plain_chain_is_all_vital_and_one_path()
    {
        var graph = new BlockGraph(6);
        Assert.Equal([0, 1, 2, 3, 4, 5], graph.VitalBlocks());
        Assert.Equal(1, graph.PathCount());
    }

    [Fact]
    public void Every_shortcut_doubles_the_path_ensemble()
    {
        var space = new ArchitectureSpace(Presets.Skeleton("imagenet"));
        Assert.Equal(Math.Pow(2, 15), space.Graph.PathCount());
    }

    [Fact]
    public void Overlapping_long_skips_leave_only_blocks_no_path_avoids()
    {
        // 0 -> 1 -> 2 -> 3 -> 4 -> 5 with skips 1->3 and 2->5: blocks 1..4 can all be bypassed, 0 cannot.
        var graph = new BlockGraph(5).AddShortcut(1, 3).AddShortcut(2, 5);
        Assert.Equal([0], graph.VitalBlocks());
    }

    [Fact]
    public void Backward_shortcuts_are_rejected()
    {
        var e = Assert.Throws<SearchSpaceException>(() => new BlockGraph(3).AddShortcut(2, 1));
        Assert.Contains("forward", e.Message);
    }
}
