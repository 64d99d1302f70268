using System.Text.Json;

namespace HourNas.Cli.Tests;

public class CliTests
{
    [Fact]
    public void Cost_json_reports_totals_and_every_part()
    {
        var r = CliRunner.Run("cost", "--preset", "imagenet", "--genotype", "hournas-f", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Error);
        var json = r.Json;
        Assert.InRange(json.GetProperty("macs").GetInt64(), 379_170_000, 386_830_000);
        Assert.InRange(json.GetProperty("params").GetInt64(), 5_286_600, 5_393_400);
        var parts = json.GetProperty("parts").EnumerateArray().ToArray();
        Assert.Equal(22 + 3, parts.Length);
        Assert.Equal(json.GetProperty("params").GetInt64(), parts.Sum(p => p.GetProperty("params").GetInt64()));
    }

    [Fact]
    public void Cost_accepts_a_text_genotype_and_prints_a_table()
    {
        var r = CliRunner.Run("cost", "-p", "fashion-mnist", "-g",
            "k3e1 | k3e6 skip skip | k5e6 skip skip | k3e6 skip");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("block 8", r.Out);
        Assert.Contains("total:", r.Out);
    }

    [Fact]
    public void Vital_json_lists_the_vital_blocks_with_reasons()
    {
        var r = CliRunner.Run("vital", "--preset", "mobilenetv2", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal([0, 1, 3, 6, 10, 13, 16],
            r.Json.GetProperty("vitalBlocks").EnumerateArray().Select(e => e.GetInt32()));
        var block3 = r.Json.GetProperty("blocks")[3];
        Assert.True(block3.GetProperty("vital").GetBoolean());
        Assert.Contains("stride 2", block3.GetProperty("reason").GetString());
    }

    [Fact]
    public void Shrink_json_reports_counts_proposal_and_acceptance()
    {
        var r = CliRunner.Run("shrink", "--preset", "imagenet", "--budget-mflops", "320", "--vital-genotype",
            "hournas-f", "--samples", "2000", "--json");
        Assert.Equal(0, r.ExitCode);
        var json = r.Json;
        Assert.Equal("1000000000000000", json.GetProperty("architecturesInSpace").GetString());
        var inWindow = decimal.Parse(json.GetProperty("architecturesInWindow").GetString()!);
        Assert.InRange(inWindow, 1, 1e15m);
        Assert.Equal((double)(inWindow / 1e15m), json.GetProperty("shrinkRatio").GetDouble(), 6);
        var target = json.GetProperty("proposalTargetMFlops").GetDouble();
        Assert.Equal(304.0, target, 6);
        Assert.InRange(json.GetProperty("proposalExpectedMFlops").GetDouble(), target * 0.995, target * 1.005);
        Assert.InRange(json.GetProperty("acceptanceRate").GetDouble(), 0.01, 1);
        var blocks = json.GetProperty("blocks").EnumerateArray().ToArray();
        Assert.Equal(22, blocks.Length);
        Assert.All(blocks.Where(b => b.GetProperty("fixed").GetBoolean()),
            b => Assert.True(b.GetProperty("vital").GetBoolean()));
        foreach (var b in blocks)
        {
            var kept = b.GetProperty("candidates").EnumerateArray()
                .Where(c => c.GetProperty("kept").GetBoolean())
                .ToArray();
            Assert.Equal(1.0, kept.Sum(c => c.GetProperty("probability").GetDouble()), 9);
        }
    }

    [Fact]
    public void Presets_json_lists_presets_and_genotypes()
    {
        var r = CliRunner.Run("presets", "--json");
        Assert.Equal(0, r.ExitCode);
        var names = r.Json.GetProperty("presets").EnumerateArray()
            .Select(p => p.GetProperty("name").GetString()!)
            .ToArray();
        Assert.Equal(
            new[] { "cifar10", "cifar10-hournas-f", "fashion-mnist", "imagenet", "mobilenetv2", "smoke" }, names);
        Assert.Contains(r.Json.GetProperty("genotypes").EnumerateArray(),
            g => g.GetProperty("name").GetString() == "hournas-f");
        Assert.Contains(r.Json.GetProperty("genotypes").EnumerateArray(),
            g => g.GetProperty("name").GetString() == "hournas-f-c10");
    }

    [Theory]
    [InlineData("unknown preset 'nope'", "vital", "--preset", "nope")]
    [InlineData("impossible budget", "shrink", "--preset", "imagenet", "--budget-mflops", "10")]
    [InlineData("unknown operation 'k4e6'", "cost", "--preset", "imagenet", "--genotype", "k4e6 | k3e6")]
    [InlineData("'skip' is not allowed", "cost", "-p", "fashion-mnist", "-g",
        "skip | k3e6 skip skip | k5e6 skip skip | k3e6 skip")]
    [InlineData("vital genotype has 3 operations", "shrink", "-p", "imagenet", "-b", "300", "--vital-genotype",
        "k3e1 k3e1 k3e1")]
    [InlineData("the budget must be a positive number", "shrink", "-p", "imagenet", "-b", "-5")]
    public void Bad_input_is_a_clear_error_on_stderr(string expected, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Out);
        Assert.StartsWith("error: ", r.Error);
        Assert.Contains(expected, r.Error);
    }

    [Fact]
    public void Missing_required_option_fails()
    {
        var r = CliRunner.Run("shrink", "--preset", "imagenet");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--budget-mflops", r.Error);
    }

    [Fact]
    public void The_real_executable_separates_stdout_and_stderr()
    {
        var ok = CliRunner.RunProcess("vital", "--preset", "imagenet", "--json");
        Assert.Equal(0, ok.ExitCode);
        Assert.Equal(7, ok.Json.GetProperty("vitalBlocks").GetArrayLength());

        var bad = CliRunner.RunProcess("cost", "--preset", "imagenet", "--genotype", "mobilenetv2", "--json");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal("", bad.Out);
        Assert.Contains("belongs to preset 'mobilenetv2'", bad.Error);
    }
}
