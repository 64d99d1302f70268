using System.Diagnostics;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// The shipped Prometheus files (infra/prometheus) are valid for Debian's promtool, and the alert rules fire when
/// they should and stay quiet when they should not (promtool's rule unit tests, alerts.test.yml).
/// </summary>
public sealed class AlertRuleTests
{
    private static readonly string Folder = Path.Combine(TestEnvironment.RepositoryRoot, "infra", "prometheus");

    private static (int Exit, string Output) Promtool(params string[] args)
    {
        const string promtool = "/usr/bin/promtool";
        if (!File.Exists(promtool))
            throw new FileNotFoundException("promtool (Debian's prometheus package) is not installed: run ./test.sh");
        var start = new ProcessStartInfo(promtool, args)
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000)) process.Kill();
        return (process.ExitCode, output.Result + error.Result);
    }

    [Fact]
    public void The_alert_rules_and_the_scrape_config_pass_promtool_check()
    {
        var rules = Promtool("check", "rules", "alerts.yml");
        Assert.True(rules.Exit == 0, rules.Output);
        Assert.Contains("SUCCESS: 4 rules found", rules.Output);
        var config = Promtool("check", "config", "prometheus.yml");
        Assert.True(config.Exit == 0, config.Output);
    }

    [Fact]
    public void The_alerts_fire_for_a_stalled_stage_a_failed_experiment_and_a_queue_without_workers()
    {
        var tests = Promtool("test", "rules", "alerts.test.yml");
        Assert.True(tests.Exit == 0, tests.Output);
        Assert.Contains("SUCCESS", tests.Output);
    }
}
