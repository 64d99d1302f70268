using HourNas.Contracts;
using HourNas.SearchSpace;

namespace HourNas.Pipeline.Tests;

/// <summary>A spec's budgets on parameters and latency: what resolution keeps, and what it refuses.</summary>
public class BudgetSpecTests
{
    private static string Table(string preset, string device = "cpu")
    {
        var space = new ArchitectureSpace(Presets.Skeleton(preset));
        var blocks = space.Blocks.Select(b => new BlockLatencies(b.Index, space.Candidates[b.Index]
            .Where(o => !o.IsSkip).Select(o => new OperationLatency(o.ToString(), 1000 * (1 + o.Kernel * o.Expansion)))
            .ToArray())).ToArray();
        return new LatencyTable(LatencyTable.CurrentFormat, preset, DateTime.UnixEpoch,
            new LatencyConditions(device, 1, 1, "test", 2, 1, 1), 5000, 3000, 1000, blocks).ToJson();
    }

    [Fact]
    public void Parameter_and_latency_budgets_are_kept_and_no_default_flops_budget_is_added()
    {
        var resolved = ExperimentSpecs.Resolve(Specs.Smoke with
        {
            BudgetMParams = 0.02,
            BudgetMilliseconds = 0.05,
            LatencyTable = Table("smoke"),
        });
        Assert.Null(resolved.BudgetMFlops);
        var budget = ExperimentSpecs.Budget(resolved);
        Assert.Equal([CostMetric.Latency, CostMetric.Params], budget.Limits.Select(l => l.Metric));
        Assert.Equal(45_000, budget.Primary.Min);
        var space = ExperimentSpecs.Space(resolved);
        Assert.NotNull(space.Costs.Latencies);
        // The table's latencies are the cost model's: an op kKeE costs 1000 x (1 + K E) ns in the table above.
        var block = space.VitalBlocks[^1];
        var op = space.Candidates[block][^1];
        Assert.Equal(1000 * (1 + op.Kernel * op.Expansion), space.Costs.Block(block, op).LatencyNs);
        // With no budget at all, the preset's FLOPs budget still applies.
        Assert.Equal(Presets.Skeleton("smoke").DefaultBudgetMFlops, ExperimentSpecs.Resolve(Specs.Smoke).BudgetMFlops);
    }

    [Theory]
    [InlineData("infinite", "the parameter budget must be positive")]
    [InlineData("no-table", "a latency budget needs a latency table")]
    [InlineData("other-preset", "measured for preset 'fashion-mnist', not 'smoke'")]
    [InlineData("other-device", "measured on device 'cuda', not 'cpu'")]
    [InlineData("huge-table", "the inline latency table is")]
    [InlineData("not-a-table", "is not a latency table")]
    public void Bad_budgets_are_refused_naming_the_problem(string kind, string message)
    {
        var spec = kind switch
        {
            "infinite" => Specs.Smoke with { BudgetMParams = double.PositiveInfinity },
            "no-table" => Specs.Smoke with { BudgetMilliseconds = 1 },
            "other-preset" => Specs.Smoke with { BudgetMilliseconds = 1, LatencyTable = Table("fashion-mnist") },
            "other-device" => Specs.Smoke with { BudgetMilliseconds = 1, LatencyTable = Table("smoke", "cuda") },
            "huge-table" => Specs.Smoke with
            {
                BudgetMilliseconds = 1,
                LatencyTable = Table("smoke") + new string(' ', ExperimentSpecs.MaxLatencyTableChars),
            },
            _ => Specs.Smoke with { BudgetMilliseconds = 1, LatencyTable = """{"format": "x"}""" },
        };
        var e = Assert.Throws<SearchSpaceException>(() => ExperimentSpecs.Resolve(spec));
        Assert.Contains(message, e.Message);
        Assert.True(e.Message.Length < 600, $"{e.Message.Length} characters");
    }
}
