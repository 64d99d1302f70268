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

/// <summary>Made-up latency tables, so latency limits can be tested without measuring.</summary>
internal static class TinyLatencies
{
    /// <summary>A table whose latencies follow neither FLOPs nor parameters (seeded), in whole microseconds.</summary>
    public static LatencyTable For(ArchitectureSpace space, ulong seed = 1, string device = "cpu")
    {
        var rng = new Rng(seed);
        var blocks = space.Blocks.Select(b => new BlockLatencies(b.Index, space.Candidates[b.Index]
            .Where(o => !o.IsSkip)
            .Select(o => new OperationLatency(o.ToString(), 1000.0 * (1 + rng.NextInt(40))))
            .ToArray())).ToArray();
        return new LatencyTable(LatencyTable.CurrentFormat, space.Skeleton.Name, DateTime.UnixEpoch,
            new LatencyConditions(device, 1, 1, "test", 2, 1, 1), 5000, 3000, 1000, blocks);
    }
}
