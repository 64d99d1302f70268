using System.Text.Json;
using HourNas.SearchSpace;

namespace HourNas.Cli.Tests;

/// <summary>Budgets on parameters and latency beside FLOPs, through the CLI, with their errors.</summary>
public class BudgetOptionTests
{
    private static JsonElement Shrink(params string[] args)
    {
        var r = CliRunner.Run(["shrink", "--samples", "500", "--json", .. args]);
        Assert.True(r.ExitCode == 0, r.Error);
        return r.Json;
    }

    [Fact]
    public void A_parameter_limit_beside_flops_shrinks_the_window_and_holds_the_proposal_under_it()
    {
        var flops = Shrink("-p", "fashion-mnist", "-b", "2");
        var both = Shrink("-p", "fashion-mnist", "-b", "2", "--budget-mparams", "0.045");
        Assert.True(decimal.Parse(both.GetProperty("architecturesInWindow").GetString()!)
            < decimal.Parse(flops.GetProperty("architecturesInWindow").GetString()!));
        var limits = both.GetProperty("limits").EnumerateArray().ToArray();
        Assert.Equal(["flops", "params"], limits.Select(l => l.GetProperty("metric").GetString()));
        Assert.Equal(1.8, limits[0].GetProperty("min").GetDouble(), 6);
        Assert.Equal(0, limits[1].GetProperty("min").GetDouble());
        Assert.True(limits[1].GetProperty("proposalLambda").GetDouble() > 0);
        Assert.True(limits[1].GetProperty("proposalExpected").GetDouble()
            <= limits[1].GetProperty("proposalTarget").GetDouble() * 1.005);
        Assert.Contains("M params", both.GetProperty("budget").GetString());
        // Every kept candidate can still be part of a network under 0.045 M parameters.
        Assert.All(both.GetProperty("blocks").EnumerateArray().SelectMany(b => b.GetProperty("candidates")
                .EnumerateArray()).Where(c => !c.GetProperty("kept").GetBoolean()),
            c => Assert.NotNull(c.GetProperty("droppedBecause").GetString()));
    }

    [Fact]
    public void A_parameter_budget_alone_is_the_primary_one_with_the_window()
    {
        var json = Shrink("-p", "fashion-mnist", "--budget-mparams", "0.05");
        var limit = json.GetProperty("limits")[0];
        Assert.Equal("params", limit.GetProperty("metric").GetString());
        Assert.Equal(0.045, limit.GetProperty("min").GetDouble(), 6);
        // No FLOPs target without a FLOPs budget (null, left out of the JSON).
        Assert.False(json.TryGetProperty("proposalTargetMFlops", out var t) && t.ValueKind != JsonValueKind.Null);
        Assert.InRange(limit.GetProperty("proposalExpected").GetDouble(), 0.0475 * 0.995, 0.0475 * 1.005);
    }

    [Fact]
    public void The_paper_anchors_run_inside_both_constraints()
    {
        foreach (var (mflops, mparams) in new[] { ("313", "3.8"), ("383", "5.3") })
        {
            var json = Shrink("-p", "imagenet", "-b", mflops, "--budget-mparams", mparams);
            Assert.True(decimal.Parse(json.GetProperty("architecturesInWindow").GetString()!) > 0);
            var limits = json.GetProperty("limits").EnumerateArray().ToArray();
            Assert.Equal(double.Parse(mparams), limits[1].GetProperty("max").GetDouble(), 6);
        }
    }

    [Fact]
    public void A_latency_budget_uses_the_table_it_is_given()
    {
        var dir = Directory.CreateTempSubdirectory("hournas-latency-");
        try
        {
            var table = Path.Combine(dir.FullName, "smoke.json");
            var made = CliRunner.Run("latency-table", "--preset", "smoke", "--repeats", "3", "--threads", "1",
                "--out", table, "--json");
            Assert.True(made.ExitCode == 0, made.Error);
            var loaded = LatencyTable.Load(table);
            var space = new ArchitectureSpace(Presets.Skeleton("smoke"));
            Assert.Equal(space.Blocks.Count, loaded.Blocks.Count);
            Assert.All(loaded.Blocks, b => Assert.Equal(space.Candidates[b.Block].Count(o => !o.IsSkip), b.Ops.Count));
            // Every candidate was timed in some network of the rotation, blocks with skip among them.
            Assert.All(loaded.Blocks.SelectMany(b => b.Ops),
                o => Assert.True(double.IsFinite(o.Nanoseconds) && o.Nanoseconds > 0, $"{o.Op}: {o.Nanoseconds}"));
            Assert.True(loaded.FixedNanoseconds > 0);
            Assert.Equal(1, loaded.Conditions.Threads);

            // A budget between the cheapest and the dearest network keeps a window; its limit is in the report.
            var measured = space.WithLatencies(loaded);
            var all = SpaceShrinker.Shrink(measured, Budget.FromMFlops(100, 0));
            var middle = (all.Min(CostMetric.Latency) + all.Max(CostMetric.Latency)) / 2e6;
            var json = Shrink("-p", "smoke", "--budget-ms", middle.ToString("R"), "--latency-table", table);
            Assert.Equal("latency", json.GetProperty("limits")[0].GetProperty("metric").GetString());
            Assert.True(decimal.Parse(json.GetProperty("architecturesInWindow").GetString()!) > 0);
            Assert.All(json.GetProperty("blocks").EnumerateArray().SelectMany(b => b.GetProperty("candidates")
                .EnumerateArray()).Where(c => c.GetProperty("op").GetString() != "skip"),
                c => Assert.True(c.GetProperty("milliseconds").GetDouble() > 0));

            var other = CliRunner.Run("shrink", "-p", "fashion-mnist", "--budget-ms", "1", "--latency-table", table);
            Assert.Equal(1, other.ExitCode);
            Assert.Contains("measured for preset 'smoke', not 'fashion-mnist'", other.Error);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Theory]
    [InlineData("--budget-ms needs --latency-table", "shrink", "-p", "smoke", "--budget-ms", "1")]
    [InlineData("latency table /nonexistent/t.json does not exist", "shrink", "-p", "smoke", "--budget-ms", "1",
        "--latency-table", "/nonexistent/t.json")]
    [InlineData("the budget must be a positive number of millions of parameters", "shrink", "-p", "smoke",
        "--budget-mparams", "0")]
    [InlineData("the cheapest reachable in each dimension", "shrink", "-p", "fashion-mnist", "-b", "7.7",
        "--budget-mparams", "0.03")]
    [InlineData("shrink needs a budget", "shrink", "-p", "smoke")]
    [InlineData("--target-mflops needs a FLOPs budget", "shrink", "-p", "smoke", "--budget-mparams", "0.05",
        "--target-mflops", "1")]
    [InlineData("stage stage1 needs a budget", "stage", "stage1", "-p", "smoke")]
    public void Bad_budgets_are_clear_errors(string expected, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Error);
        Assert.Contains(expected, r.Error);
    }

    [Theory]
    [InlineData("1,x", "--budgets-mflops: 'x' is not a number")]
    [InlineData("1,1", "a family's budgets must differ")]
    [InlineData("0,1", "every budget of a family must be positive")]
    public void A_bad_family_is_refused_naming_the_problem(string budgets, string message)
    {
        var out_ = Path.Combine(Path.GetTempPath(), "hournas-family-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = CliRunner.Run(["run", "-p", "smoke", "--budgets-mflops", budgets, "--out", out_]);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains(message, r.Error);
        }
        finally
        {
            if (Directory.Exists(out_)) Directory.Delete(out_, recursive: true);
        }
    }
}
