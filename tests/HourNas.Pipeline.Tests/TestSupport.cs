using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Experiments;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace HourNas.Pipeline.Tests;

/// <summary>Where this test run is: the repository and build it runs from.</summary>
public static class TestEnvironment
{
    private static readonly DirectoryInfo Bin = new(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));

    /// <summary>The build configuration the tests run from (Debug or Release).</summary>
    public static string Configuration => Bin.Parent!.Name;

    /// <summary>The target framework folder (net10.0).</summary>
    public static string Framework => Bin.Name;

    /// <summary>tests/HourNas.Pipeline.Tests/bin/&lt;configuration&gt;/&lt;framework&gt; -> the repository.</summary>
    public static string RepositoryRoot => Bin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
}

/// <summary>A folder under the system temp folder, deleted at the end of the test.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } =
        System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hournas-pipeline-" + Guid.NewGuid().ToString("N")[..10]);

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        // To look at a failed run's files.
        if (Environment.GetEnvironmentVariable("HOURNAS_KEEP_TEST_FILES") == "1") return;
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that was killed may still be releasing a file; the temp folder is cleaned by the system.
        }
    }
}

public static class Waits
{
    /// <summary>
    /// Polls until the experiment satisfies the condition; fails with its last state when it does not in time.
    /// </summary>
    public static async Task<ExperimentState> Until(
        Func<Task<ExperimentState?>> get, Func<ExperimentState, bool> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        ExperimentState? last = null;
        while (clock.Elapsed < timeout)
        {
            last = await get();
            if (last is not null && done(last)) return last;
            await Task.Delay(200);
        }
        throw new TimeoutException(
            $"{what} did not happen within {timeout.TotalSeconds:F0} s; last state: {Describe(last)}");
    }

    /// <summary>Polls until the condition holds; fails naming what did not happen in time.</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:F0} s");
            await Task.Delay(250);
        }
    }

    public static string Describe(ExperimentState? s) => s is null ? "none"
        : $"{s.Status} at {s.CurrentStage} " +
            $"({string.Join(", ", s.Stages.Select(x => $"{x.Stage}:{x.Status}x{x.Starts}"))}) {s.FailureReason}";
}

public static class Specs
{
    /// <summary>The smoke preset as it is, on Debian's Fashion-MNIST: the whole pipeline in about 20 s.</summary>
    public static ExperimentSpec Smoke => new() { Preset = "smoke" };
}

/// <summary>One sample of Prometheus' text format: the series' name, its labels and its value.</summary>
public sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    private static readonly System.Text.RegularExpressions.Regex Line = new(
        @"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$");

    private static readonly System.Text.RegularExpressions.Regex Label = new(
        @"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\.|[^""\\])*)""");

    /// <summary>Every sample of a scrape (comment lines skipped).</summary>
    public static IReadOnlyList<MetricSample> Parse(string text) =>
    [
        .. text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => Line.Match(l)).Where(m => m.Success)
            .Select(m => new MetricSample(
                m.Groups["name"].Value,
                Label.Matches(m.Groups["labels"].Value)
                    .ToDictionary(x => x.Groups["key"].Value, x => x.Groups["value"].Value),
                double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture))),
    ];
}
