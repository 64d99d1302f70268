using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

/// <summary>Small skeletons whose spaces brute force can enumerate.</summary>
internal static class TinySpaces
{
    public static Skeleton Tiny { get; } = new Skeleton(
        Name: "tiny",
        InputSize: 8,
        InputChannels: 1,
        Classes: 2,
        Stem: new StemSpec(4, 1),
        Stages:
        [
            new StageSpec(8, 3, 1, ["k3e1", "k3e3", "k5e3"]),
            new StageSpec(12, 2, 2, ["k3e1", "k5e6"]),
        ],
        HeadWidth: 16,
        Candidates: ["k3e1"],
        Style: new BlockStyle(Activation.ReLU, null, false)).Validate();

    /// <summary>Every combination of one option per block.</summary>
    public static IEnumerable<int[]> Enumerate(IReadOnlyList<int> optionCounts) => Choices.All(optionCounts);

    /// <summary>Cost of one choice over the unshrunk candidates of a space.</summary>
    public static long Macs(ArchitectureSpace space, int[] choice) =>
        space.Costs.Fixed.Macs + choice.Select((c, b) => space.Costs.Block(b, space.Candidates[b][c]).Macs).Sum();
}
