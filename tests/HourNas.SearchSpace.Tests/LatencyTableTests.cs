using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

/// <summary>Latency tables as files and as the cost model's latency.</summary>
public class LatencyTableTests
{
    private static readonly ArchitectureSpace Tiny = new(TinySpaces.Tiny);

    [Fact]
    public void A_table_round_trips_and_its_sum_is_the_network_latency()
    {
        var table = TinyLatencies.For(Tiny, seed: 4);
        var path = Path.Combine(Path.GetTempPath(), $"hournas-latency-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, table.ToJson());
            var loaded = LatencyTable.Load(path);
            var measured = Tiny.WithLatencies(loaded);
            var genotype = Tiny.FromBlocks(Tiny.Candidates.Select(c => c[0]).ToArray());
            var expected = table.FixedNanoseconds + genotype.Blocks.Select((op, b) => op.IsSkip ? 0
                : table.Blocks[b].Ops.Single(o => o.Op == op.ToString()).Nanoseconds).Sum();
            Assert.Equal((long)Math.Round(expected), measured.Costs.Of(genotype).Total.LatencyNs);
            // FLOPs and parameters are the same with or without a table.
            Assert.Equal(Tiny.Costs.Of(genotype).Total.Macs, measured.Costs.Of(genotype).Total.Macs);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_calibration_adds_its_constant_once_and_its_overhead_per_running_block()
    {
        var plain = TinyLatencies.For(Tiny);
        var calibrated = plain with { Calibration = new LatencyCalibration(10, 7000, 500) };
        var genotype = Tiny.FromBlocks(Tiny.Candidates.Select(c => c[^1]).ToArray());
        var running = genotype.Blocks.Count(o => !o.IsSkip);
        Assert.True(running < genotype.Blocks.Count, "the test needs a skipped block");
        var difference = Tiny.WithLatencies(calibrated).Costs.Of(genotype).Total.LatencyNs
            - Tiny.WithLatencies(plain).Costs.Of(genotype).Total.LatencyNs;
        Assert.Equal(7000 + 500 * running, difference);
    }

    [Theory]
    [InlineData("{", "is not valid JSON")]
    [InlineData("""{"format": "other"}""", "is not a latency table")]
    [InlineData("""{"format": "hournas-latency/1"}""", "has no preset, conditions or blocks")]
    public void A_file_that_is_not_a_table_is_named(string json, string message)
    {
        var e = Assert.Throws<SearchSpaceException>(() => LatencyTable.FromJson(json, "t.json"));
        Assert.Contains("t.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_table_for_another_space_or_with_a_gap_is_refused()
    {
        var table = TinyLatencies.For(Tiny);
        Assert.Contains("measured for preset 'tiny', not 'smoke'", Assert.Throws<SearchSpaceException>(() =>
            new ArchitectureSpace(Presets.Skeleton("smoke")).WithLatencies(table)).Message);
        var gap = table with
        {
            Blocks = [table.Blocks[0] with { Ops = table.Blocks[0].Ops.Skip(1).ToArray() }, .. table.Blocks.Skip(1)],
        };
        Assert.Contains("no entry for block 0",
            Assert.Throws<SearchSpaceException>(() => Tiny.WithLatencies(gap)).Message);
        var negative = table with
        {
            Blocks = [table.Blocks[0] with { Ops = [new OperationLatency("k3e1", -1)] }, .. table.Blocks.Skip(1)],
        };
        Assert.Contains("finite latency >= 0", Assert.Throws<SearchSpaceException>(() =>
            LatencyTable.FromJson(negative.ToJson(), "n.json")).Message);
        Assert.Contains("measured on device 'cpu', not 'cuda'",
            Assert.Throws<SearchSpaceException>(() => table.Check(Tiny, "cuda")).Message);
    }
}
