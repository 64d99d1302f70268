using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using HourNas.Contracts;
using HourNas.Engine.Data;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HourNas.Workers;

/// <summary>
/// What every stage consumer does around its stage:
/// <list type="bullet">
/// <item>a finished stage is not run twice: its event is saved as <c>completed.json</c> before it is published, and a
/// redelivered command only republishes it;</item>
/// <item>an unfinished one resumes from its checkpoint (a redelivery after a crash, or a retry);</item>
/// <item>progress goes out as <see cref="StageProgressed"/>; a span per stage joins the experiment's trace;</item>
/// <item>bad input (<see cref="IsPermanent"/>) is thrown as <see cref="StageRejectedException"/>: the command goes to
/// the error queue unretried and its Fault tells the coordinator; anything else publishes a <see cref="StageFailed"/>
/// report and is retried with backoff, and its Fault comes once the retries are spent.</item>
/// </list>
/// </summary>
public abstract class StageConsumer<TCommand, TEvent>(StageServices services) : IConsumer<TCommand>
    where TCommand : class, IStageMessage
    where TEvent : class, IStageMessage
{
    private const string CompletedFile = "completed.json";

    /// <summary>The stage's name, from its row in <see cref="PipelineStages.Sequence"/>.</summary>
    protected string Stage { get; } = Declared().Name;

    protected abstract ActivitySource Source { get; }

    protected StageServices Services { get; } = services;

    protected abstract Task<TEvent> Run(TCommand command, StageRun run);

    public async Task Consume(ConsumeContext<TCommand> context)
    {
        var command = context.Message;
        var store = Services.Store;
        var folder = store.StageFolder(command.ExperimentId, Stage);
        var completed = Path.Combine(folder, CompletedFile);
        using var activity = Source.StartActivity(Stage, ActivityKind.Internal);
        activity?.SetTag("hournas.experiment", command.ExperimentId);
        activity?.SetTag("hournas.stage", Stage);
        activity?.SetTag("hournas.attempt", command.Attempt);
        activity?.SetTag("hournas.worker", Services.Worker);

        if (Finished(completed, command.Attempt) is { } done)
        {
            Services.Logger.LogInformation(
                "{Stage} of {Experiment} already finished: republishing its result", Stage, command.ExperimentId);
            activity?.SetTag("hournas.duplicate", true);
            await context.Publish(done);
            return;
        }

        using var running = StageTelemetry.Running(command.ExperimentId, Stage);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        using var registration = Services.Cancellations.Register(command.ExperimentId, command.Attempt, cancel);
        var progress = Channel.CreateUnbounded<StageProgressed>(new UnboundedChannelOptions { SingleReader = true });
        var pump = Task.Run(async () =>
        {
            await foreach (var p in progress.Reader.ReadAllAsync())
            {
                running.Report(p);
                // Progress is news, not the result: one report that does not go out must not fail the stage.
                try
                {
                    await context.Publish(p);
                }
                catch (Exception e)
                {
                    Services.Logger.LogWarning(e, "{Stage} of {Experiment}: a progress report was not published",
                        Stage, command.ExperimentId);
                }
            }
        });
        var run = new StageRun(Stage, folder, Services, cancel.Token, p => progress.Writer.TryWrite(
            Report(command, p.Phase) with
            {
                Epoch = p.Epoch,
                Epochs = p.Epochs,
                Step = p.Step,
                Steps = p.Steps,
                Loss = p.Loss,
                Accuracy = p.Accuracy,
                ImagesPerSecond = p.ImagesPerSecond,
                Seconds = p.Seconds,
            }));
        var clock = Stopwatch.StartNew();
        StageLease? lease = null;
        try
        {
            await context.Publish(Report(command, ProgressPhases.Received));
            // One running delivery per stage (a command sent again after a coordinator crash while the first still
            // runs elsewhere): wait for the other's lease, and republish its result if it finishes meanwhile.
            lease = await StageLease.Acquire(folder, Services.Worker, command.Attempt, Services.LeaseDuration,
                () => Finished(completed, command.Attempt) is not null, cancel.Token);
            if (lease is null)
            {
                progress.Writer.TryComplete();
                await pump;
                activity?.SetTag("hournas.duplicate", true);
                await context.Publish(Finished(completed, command.Attempt)!);
                return;
            }
            // Training blocks its thread for minutes: keep it off the bus's thread pool.
            var result = await Task.Factory.StartNew(
                () => Run(command, run), cancel.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            progress.Writer.TryComplete();
            await pump;
            Directory.CreateDirectory(folder);
            var temporary = completed + ".tmp";
            await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(result, HourNasStages.Json));
            File.Move(temporary, completed, overwrite: true);
            StageTelemetry.RecordDuration(command.ExperimentId, Stage, clock.Elapsed.TotalSeconds, "completed");
            await context.Publish(result);
        }
        catch (OperationCanceledException)
            when (Services.Cancellations.IsCancelled(command.ExperimentId, command.Attempt))
        {
            // The command is done with. Said on the bus, so a cancel from outside the coordinator ends the experiment.
            progress.Writer.TryComplete();
            await pump;
            activity?.SetStatus(ActivityStatusCode.Error, "cancelled");
            StageTelemetry.RecordDuration(command.ExperimentId, Stage, clock.Elapsed.TotalSeconds, "cancelled");
            await context.Publish(new StageCancelled
            {
                ExperimentId = command.ExperimentId,
                Attempt = command.Attempt,
                Stage = Stage,
                Reason = Services.Cancellations.ReasonFor(command.ExperimentId),
                Worker = Services.Worker,
            });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            progress.Writer.TryComplete();
            await pump;
            var permanent = IsPermanent(e);
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.AddException(e);
            StageTelemetry.RecordDuration(
                command.ExperimentId, Stage, clock.Elapsed.TotalSeconds, permanent ? "rejected" : "faulted");
            Services.Logger.LogWarning(
                e, "{Stage} of {Experiment} failed ({Kind})", Stage, command.ExperimentId,
                permanent ? "bad input" : "retriable");
            if (permanent) throw new StageRejectedException(e.Message, e);
            await context.Publish(new StageFailed
            {
                ExperimentId = command.ExperimentId,
                Attempt = command.Attempt,
                Stage = Stage,
                Reason = e.Message,
                Worker = Services.Worker,
            });
            throw;
        }
        finally
        {
            progress.Writer.TryComplete();
            if (lease is not null) await lease.DisposeAsync();
        }
    }

    /// <summary>A progress report of this stage attempt from this worker, with no measurement yet.</summary>
    private StageProgressed Report(TCommand command, string phase) => new()
    {
        ExperimentId = command.ExperimentId,
        Attempt = command.Attempt,
        Stage = Stage,
        Phase = phase,
        Loss = double.NaN,
        Accuracy = double.NaN,
        Worker = Services.Worker,
    };

    /// <summary>The stage's saved result for this attempt, if it finished already.</summary>
    private static TEvent? Finished(string completed, int attempt) =>
        File.Exists(completed)
        && JsonSerializer.Deserialize<TEvent>(File.ReadAllText(completed), HourNasStages.Json) is { } done
        && done.Attempt == attempt
            ? done
            : null;

    private static StageDefinition Declared()
    {
        var stage = PipelineStages.OfCommand(typeof(TCommand));
        if (stage.Event != typeof(TEvent))
            throw new InvalidOperationException(
                $"stage '{stage.Name}' ends with {stage.Event.Name}, not {typeof(TEvent).Name}");
        return stage;
    }

    /// <summary>Failures that the same input will always reproduce: retrying cannot help.</summary>
    public static bool IsPermanent(Exception e) =>
        e is SearchSpaceException or DataException or FileNotFoundException or DirectoryNotFoundException
            or InvalidDataException or ArgumentException or StageRejectedException or JsonException;
}

/// <summary>
/// What a stage gets to run: its folder, a cancellation token, a progress sink, and the engine context.
/// </summary>
public sealed class StageRun(
    string stage, string folder, StageServices services, CancellationToken cancellation, Action<Progress> progress)
{
    public string Stage { get; } = stage;

    public string Folder { get; } = folder;

    public CancellationToken Cancellation { get; } = cancellation;

    public Action<Progress> Progress { get; } = progress;

    public StageServices Services { get; } = services;

    /// <summary>The engine's context for this stage; its checkpoint is kept, so a rerun resumes.</summary>
    public StageContext Context(ExperimentSpec spec, string? subfolder = null, bool retrain = false)
    {
        var skeleton = ExperimentSpecs.SkeletonOf(spec);
        // A command may come from anyone with broker access: its data folder is checked here as at submission.
        var data = spec.Data is null ? null : Services.DataRoots.Confine(spec.Data);
        var device = TorchRuntime.Initialize(spec.Device);
        return new StageContext(device, Services.Datasets.Open(data, skeleton),
            subfolder is null ? Folder : Path.Combine(Folder, subfolder),
            spec.Seed, EngineSettings.Training(spec, retrain, skeleton.Recipe), spec.TrainLimit, Progress,
            Cancellation);
    }

    public ArtifactRef Artifact(string name, string path) => new(name, Services.Store.Relative(path));
}

/// <summary>The services every stage consumer needs, as one injectable.</summary>
public sealed class StageServices(ArtifactStore store, DatasetCache datasets, ExperimentCancellations cancellations,
    IOptions<PipelineOptions> options, ILogger<StageServices> logger)
{
    public ArtifactStore Store { get; } = store;

    public DatasetCache Datasets { get; } = datasets;

    public ExperimentCancellations Cancellations { get; } = cancellations;

    public ILogger Logger { get; } = logger;

    public string Worker { get; } = options.Value.WorkerName;

    public DataRoots DataRoots { get; } = new(options.Value.EffectiveDataRoots());

    /// <summary>How long a stage's lease lasts without renewal (a dead holder's lapses after this).</summary>
    public TimeSpan LeaseDuration { get; } = options.Value.StageLeaseDuration;
}

/// <summary>
/// Datasets stay loaded between stages and experiments of one worker (Fashion-MNIST decodes in about a second).
/// </summary>
public sealed class DatasetCache
{
    private readonly ConcurrentDictionary<(string?, string), Lazy<Dataset>> _cache = new();

    public Dataset Open(string? folder, Skeleton skeleton)
    {
        var lazy = _cache.GetOrAdd(
            (folder, skeleton.Name),
            _ => new Lazy<Dataset>(() => global::HourNas.Engine.Data.Datasets.Open(folder, skeleton)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _cache.TryRemove((folder, skeleton.Name), out _);  // a fixed folder must be readable on the next try
            throw;
        }
    }
}

/// <summary>
/// The stage attempts this worker is running, so a <see cref="CancelExperiment"/> can stop them. A cancel is
/// remembered, so a command of a cancelled attempt that arrives later stops at once.
/// </summary>
public sealed class ExperimentCancellations
{
    private readonly ConcurrentDictionary<(string Experiment, int Attempt), CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<string, (int UpToAttempt, string Reason)> _cancelled = new();

    public IDisposable Register(string experimentId, int attempt, CancellationTokenSource source)
    {
        _running[(experimentId, attempt)] = source;
        if (IsCancelled(experimentId, attempt)) source.Cancel();
        return new Registration(() => _running.TryRemove(
            new KeyValuePair<(string, int), CancellationTokenSource>((experimentId, attempt), source)));
    }

    /// <summary>Stops the experiment's attempts up to <paramref name="upToAttempt"/> (null: every attempt).</summary>
    public void Cancel(string experimentId, int? upToAttempt, string reason)
    {
        var upTo = upToAttempt ?? int.MaxValue;
        _cancelled.AddOrUpdate(experimentId, (upTo, reason),
            (_, known) => (Math.Max(known.UpToAttempt, upTo), reason));
        foreach (var ((experiment, attempt), source) in _running)
            if (experiment == experimentId && attempt <= upTo) source.Cancel();
    }

    public bool IsCancelled(string experimentId, int attempt) =>
        _cancelled.TryGetValue(experimentId, out var cancel) && attempt <= cancel.UpToAttempt;

    /// <summary>The reason the cancel gave (bounded: it came off the bus).</summary>
    public string ReasonFor(string experimentId) =>
        _cancelled.TryGetValue(experimentId, out var cancel) ? BoundedText.Shown(cancel.Reason, 500) : "";

    private sealed class Registration(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}

/// <summary>Receives every <see cref="CancelExperiment"/> on this worker's own temporary queue.</summary>
public sealed class CancelExperimentConsumer(ExperimentCancellations cancellations) : IConsumer<CancelExperiment>
{
    public Task Consume(ConsumeContext<CancelExperiment> context)
    {
        cancellations.Cancel(context.Message.ExperimentId, context.Message.UpToAttempt, context.Message.Reason ?? "");
        return Task.CompletedTask;
    }
}
