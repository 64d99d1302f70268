using System.Globalization;
using HourNas.Contracts;
using HourNas.Experiments;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace HourNas.Cli;

/// <summary>One stage's line of the live display: what it is doing, how far, how fast, how long to go.</summary>
public sealed record StageLine(
    string Stage, string Status, double Done, string Position, double ImagesPerSecond, TimeSpan Elapsed,
    TimeSpan? Remaining, double? Best);

/// <summary>
/// How <c>hournas run</c> and <c>hournas watch</c> show an experiment while it runs: a live table when stderr is a
/// terminal (one line per stage with a bar, images/s, elapsed and remaining time, the best candidate so far), the
/// plain progress lines otherwise (CI, pipes, <c>--json</c>).
/// </summary>
public abstract class ProgressView : IDisposable
{
    /// <summary>Live only on a terminal that can redraw; HOURNAS_PLAIN_PROGRESS=1 forces the lines.</summary>
    public static ProgressView For(HournasCli cli, bool json)
    {
        var terminal = ReferenceEquals(cli.Error, Console.Error) && !Console.IsErrorRedirected
            && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb")
            && Environment.GetEnvironmentVariable("HOURNAS_PLAIN_PROGRESS") != "1";
        return terminal && !json ? new Live() : new Plain(cli.Error);
    }

    /// <summary>Shows the experiment's state now.</summary>
    public abstract void Show(ExperimentState state);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>The stages of the pipeline in order, as far as the state knows them.</summary>
    public static IReadOnlyList<StageLine> Lines(ExperimentState state, DateTimeOffset now) =>
    [
        .. PipelineStages.Sequence.Select(definition =>
        {
            var stage = state.Stages.LastOrDefault(s => s.Stage == definition.Name);
            if (stage is null) return new StageLine(definition.Name, "waiting", 0, "", double.NaN, TimeSpan.Zero,
                null, null);
            var points = state.Progress.Where(p => p.Stage == stage.Stage && p.At >= stage.StartedAt).ToArray();
            var last = points.LastOrDefault(p => p.Steps > 0);
            var done = stage.Status == StageStatus.Completed ? 1
                : last is null ? 0 : ProgressPhases.Fraction(last.Epoch, last.Epochs, last.Step, last.Steps);
            var elapsed = (stage.EndedAt ?? now) - (stage.ReceivedAt ?? stage.StartedAt);
            TimeSpan? remaining = stage.Status != StageStatus.Running ? TimeSpan.Zero
                : done > 0.01 ? elapsed * ((1 - done) / done) : null;
            var position = last is null ? ""
                : last.Phase == ProgressPhases.Search ? $"candidate {last.Step}/{last.Steps}"
                : $"epoch {Math.Max(last.Epoch, 1)}/{Math.Max(last.Epochs, 1)} step {last.Step}/{last.Steps}";
            var scored = points.Where(p => p.Phase == ProgressPhases.Search && double.IsFinite(p.Accuracy)).ToArray();
            var speed = points.LastOrDefault(p => p.ImagesPerSecond > 0)?.ImagesPerSecond ?? double.NaN;
            var status = stage.Status == StageStatus.Running && stage.Starts == 0 && stage.ReceivedAt is null
                ? "queued" : stage.Status.ToString().ToLowerInvariant();
            return new StageLine(stage.Stage, status, stage.Status == StageStatus.Completed ? 1 : done, position,
                speed, elapsed < TimeSpan.Zero ? TimeSpan.Zero : elapsed, remaining,
                scored.Length > 0 ? scored.Max(p => p.Accuracy) : null);
        }),
    ];

    /// <summary>The table the live display redraws.</summary>
    public static IRenderable Render(ExperimentState state, DateTimeOffset now)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"experiment {Markup.Escape(state.Id)}: {state.Status.ToString().ToLowerInvariant()}")
            .AddColumns("stage", "status", "progress", "", "images/s", "elapsed", "remaining", "best so far");
        foreach (var line in Lines(state, now))
            table.AddRow(
                Markup.Escape(line.Stage),
                line.Status,
                Bar(line.Done) + $" {line.Done,4:P0}",
                Markup.Escape(line.Position),
                double.IsFinite(line.ImagesPerSecond) ? line.ImagesPerSecond.ToString("N0", Invariant) : "",
                Clock(line.Elapsed),
                line.Remaining is { } r ? Clock(r) : "",
                line.Best is { } b ? b.ToString("P2", Invariant) : "");
        return table;
    }

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private static string Bar(double done, int width = 20)
    {
        var full = (int)Math.Round(Math.Clamp(double.IsFinite(done) ? done : 0, 0, 1) * width);
        return "[green]" + new string('█', full) + "[/][grey]" + new string('░', width - full) + "[/]";
    }

    private static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t:mm\\:ss}" : t.ToString("mm\\:ss", Invariant);

    /// <summary>Each new progress report as a line, and a line when the stage or status changes.</summary>
    private sealed class Plain(TextWriter error) : ProgressView
    {
        private int _written;
        private string? _lastStage;

        public override void Show(ExperimentState state) =>
            _written = ExperimentOutput.WriteNews(error, state, _written, ref _lastStage);
    }

    /// <summary>The table, redrawn in place on stderr.</summary>
    private sealed class Live : ProgressView
    {
        private readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
        });

        private LiveDisplayContext? _context;
        private readonly ManualResetEventSlim _started = new();
        private readonly TaskCompletionSource _finished = new();
        private Task? _display;
        private ExperimentState? _last;

        public override void Show(ExperimentState state)
        {
            _last = state;
            if (_display is null)
            {
                _display = _console.Live(Render(state, DateTimeOffset.UtcNow)).AutoClear(false)
                    .StartAsync(async context =>
                    {
                        _context = context;
                        _started.Set();
                        await _finished.Task;
                    });
                _started.Wait(TimeSpan.FromSeconds(5));
            }
            _context?.UpdateTarget(Render(state, DateTimeOffset.UtcNow));
            _context?.Refresh();
        }

        public override void Dispose()
        {
            if (_last is not null) _context?.UpdateTarget(Render(_last, DateTimeOffset.UtcNow));
            _finished.TrySetResult();
            _display?.Wait(TimeSpan.FromSeconds(5));
            _started.Dispose();
            base.Dispose();
        }
    }
}
