using System.Diagnostics;
using System.Text.Json;
using HourNas.Cli;

namespace HourNas.Cli.Tests;

internal sealed record CliResult(int ExitCode, string Out, string Error)
{
    public JsonElement Json => JsonDocument.Parse(Out).RootElement;
}

internal static class CliRunner
{
    /// <summary>Runs the CLI in-process with captured stdout and stderr.</summary>
    public static CliResult Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = HournasCli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs the built hournas executable as a real process.</summary>
    public static CliResult RunProcess(params string[] args) => RunProcess(new Dictionary<string, string?>(), args);

    /// <summary>Runs it as a real process with <paramref name="environment"/> changed (null removes a variable).
    /// </summary>
    public static CliResult RunProcess(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "hournas.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000)) process.Kill();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
