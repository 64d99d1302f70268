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

    [Fact]
    public void A_family_is_sorted_each_member_has_its_own_budget_and_one_entry_is_a_plain_budget()
    {
        var family = ExperimentSpecs.Resolve(Specs.Smoke with { BudgetsMFlops = [0.8, 0.5], BudgetMParams = 0.05 });
        Assert.Equal([0.5, 0.8], family.BudgetsMFlops!);
        Assert.Null(family.BudgetMFlops);
        Assert.True(ExperimentSpecs.IsFamily(family));
        var members = ExperimentSpecs.Members(family);
        Assert.Equal([0.5, 0.8], members.Select(m => m.BudgetMFlops!.Value));
        Assert.All(members, m => Assert.False(ExperimentSpecs.IsFamily(m)));
        // The other budgets bound every member.
        Assert.All(ExperimentSpecs.Budgets(family), b =>
            Assert.Equal([CostMetric.Flops, CostMetric.Params], b.Limits.Select(l => l.Metric)));
        Assert.Contains("a family spec has one budget per member",
            Assert.Throws<SearchSpaceException>(() => ExperimentSpecs.Budget(family)).Message);
        Assert.Equal(2, ExperimentSpecs.DescribeBudget(family).Split("; ").Length);

        var single = ExperimentSpecs.Resolve(Specs.Smoke with { BudgetsMFlops = [0.7] });
        Assert.Equal((0.7, null), (single.BudgetMFlops!.Value, single.BudgetsMFlops));
        Assert.Equal(ExperimentSpecs.Resolve(Specs.Smoke with { BudgetMFlops = 0.7 }), single);
    }

    [Fact]
    public void Family_specs_compare_by_their_budgets_not_by_list_identity()
    {
        var a = Specs.Smoke with { BudgetsMFlops = [0.5, 0.8] };
        Assert.True(a.SameAs(Specs.Smoke with { BudgetsMFlops = new List<double> { 0.5, 0.8 } }));
        Assert.False(a.SameAs(Specs.Smoke with { BudgetsMFlops = [0.5, 0.7] }));
        Assert.False(a.SameAs(Specs.Smoke));
        Assert.False(Specs.Smoke.SameAs(Specs.Smoke with { BudgetsMFlops = [] }));
        Assert.True(Specs.Smoke.SameAs(Specs.Smoke));
        Assert.False(a.SameAs(a with { Seed = 3 }));
    }

    [Theory]
    [InlineData("both", "not both")]
    [InlineData("duplicate", "a family's budgets must differ")]
    [InlineData("negative", "every budget of a family must be positive")]
    [InlineData("nan", "every budget of a family must be positive")]
    [InlineData("too-many", "a family has 1 to 8 FLOPs budgets, got 9")]
    [InlineData("empty", "a family has 1 to 8 FLOPs budgets, got 0")]
    public void Bad_families_are_refused_naming_the_problem(string kind, string message)
    {
        var spec = kind switch
        {
            "both" => Specs.Smoke with { BudgetMFlops = 0.8, BudgetsMFlops = [0.5, 0.8] },
            "duplicate" => Specs.Smoke with { BudgetsMFlops = [0.5, 0.5] },
            "negative" => Specs.Smoke with { BudgetsMFlops = [0.5, -1] },
            "nan" => Specs.Smoke with { BudgetsMFlops = [double.NaN, 0.5] },
            "too-many" => Specs.Smoke with { BudgetsMFlops = [.. Enumerable.Range(1, 9).Select(i => i * 0.1)] },
            _ => Specs.Smoke with { BudgetsMFlops = [] },
        };
        Assert.Contains(message, Assert.Throws<SearchSpaceException>(() => ExperimentSpecs.Resolve(spec)).Message);
    }
}
