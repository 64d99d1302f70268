using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Experiments;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace HourNas.Pipeline.Tests;

/// <summary>A folder under the system temp folder, deleted at the end of the test.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hournas-pipeline-" + Guid.NewGuid().ToString("N")[..10]);

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("HOURNAS_KEEP_TEST_FILES") == "1") return;  // to look at a failed run's files
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
    /// <summary>Polls until the experiment satisfies the condition; fails with its last state when it does not in time.</summary>
    public static async Task<ExperimentState> Until(Func<Task<ExperimentState?>> get, Func<ExperimentState, bool> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        ExperimentState? last = null;
        while (clock.Elapsed < timeout)
        {
            last = await get();
            if (last is not null && done(last)) return last;
            await Task.Delay(200);
        }
        throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:F0} s; last state: {Describe(last)}");
    }

    public static string Describe(ExperimentState? s) => s is null ? "none"
        : $"{s.Status} at {s.CurrentStage} ({string.Join(", ", s.Stages.Select(x => $"{x.Stage}:{x.Status}x{x.Starts}"))}) {s.FailureReason}";
}

public static class Specs
{
    /// <summary>The smoke preset as it is, on Debian's Fashion-MNIST: the whole pipeline in about 20 s.</summary>
    public static ExperimentSpec Smoke => new() { Preset = "smoke" };
}
