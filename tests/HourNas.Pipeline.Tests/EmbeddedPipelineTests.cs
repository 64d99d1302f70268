using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Trace;
using Orleans.Storage;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// One embedded pipeline (in-memory bus, localhost silo) running, side by side: a long experiment that is cancelled
/// in stage 1, a normal smoke experiment, and experiments with bad input. The facts below check each outcome.
/// </summary>
public sealed class EmbeddedScenario : IAsyncLifetime
{
    public TempFolder Artifacts { get; } = new();

    public List<Activity> Spans { get; } = [];

    public IHost Host { get; private set; } = null!;

    public ExperimentService Experiments => Host.Services.GetRequiredService<ExperimentService>();

    public ArtifactStore Store => Host.Services.GetRequiredService<ArtifactStore>();

    // Each experiment's outcome is kept on its own: one that does not finish fails the facts about it, not all.
    private readonly Dictionary<string, ExperimentState> _outcomes = [];
    private readonly Dictionary<string, Exception> _errors = [];

    public ExperimentState Good => Outcome("good");

    public ExperimentState Cancelled => Outcome("long");

    public ExperimentState ImpossibleBudget => Outcome("impossible-budget");

    public ExperimentState CorruptData => Outcome("corrupt-data");

    /// <summary>A smoke experiment with a parameter budget only, in the middle of the space's range.</summary>
    public ExperimentState ParamsBudget => Outcome("params-budget");

    public static double ParamsBudgetM
    {
        get
        {
            var all = SpaceShrinker.Shrink(new ArchitectureSpace(Presets.Skeleton("smoke")), Budget.FromMFlops(100, 0));
            return (all.Min(CostMetric.Params) + all.Max(CostMetric.Params)) / 2e6;
        }
    }

    /// <summary>The files of the good experiment's folder once it completed.</summary>
    public IReadOnlyList<string> Report => Directory.GetFiles(Store.ExperimentFolder(Good.Id));

    /// <summary>
    /// The experiment left by a simulated coordinator crash between recording stage 1 and sending its command.
    /// </summary>
    public ExperimentState Recovered => Outcome("crashed");

    /// <summary>What the two experiments' first and second checks did (the reminder's work, called here).</summary>
    public (CheckOutcome Crashed, CheckOutcome HalfSubmitted, CheckOutcome CrashedAgain) Checks { get; private set; }

    public IReadOnlyList<ExperimentSummary> Catalog { get; private set; } = [];

    private ExperimentState Outcome(string id) => _errors.TryGetValue(id, out var error)
        ? throw new InvalidOperationException($"experiment '{id}' of the scenario: {error.Message}", error)
        : _outcomes[id];

    private async Task Await(string id, Func<ExperimentState, bool> done, TimeSpan timeout, string what)
    {
        try
        {
            _outcomes[id] = await Waits.Until(() => Experiments.Get(id), done, timeout, what);
        }
        catch (Exception e)
        {
            _errors[id] = e;
        }
    }

    public async Task InitializeAsync()
    {
        // No reminders: the checks run only when this scenario calls them.
        var builder = PipelineRegistration.EmbeddedPipeline(Artifacts.Path,
            new Dictionary<string, string?> { ["HourNas:RecoveryInterval"] = "-00:00:00.001" });
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(Spans));
        Host = builder.Build();
        await Host.StartAsync();
        var timeout = TimeSpan.FromMinutes(3);
        try
        {
            await SimulateCrashesAndRecover();
        }
        catch (Exception e)
        {
            _errors["crashed"] = e;
        }

        // A long stage 1 (20 epochs), cancelled once it is training.
        await Experiments.Submit("long", Specs.Smoke with { SearchEpochs = 20 });
        await Await("long", s => s.Progress.Any(p => p.Stage == PipelineStages.VitalSearch
            && p.Phase == ProgressPhases.Train), timeout, "stage 1 of 'long' training");

        // Under the artifact root's data/ folder, one of the default data roots.
        var corrupt = Directory.CreateDirectory(Artifacts["data/corrupt-data"]).FullName;
        await File.WriteAllBytesAsync(Path.Combine(corrupt, "train-images-idx3-ubyte.gz"), [0x1f, 0x8b, 1, 2, 3, 4, 5]);
        await File.WriteAllBytesAsync(Path.Combine(corrupt, "train-labels-idx1-ubyte.gz"), [0x1f, 0x8b, 1, 2, 3]);
        await File.WriteAllBytesAsync(Path.Combine(corrupt, "t10k-images-idx3-ubyte.gz"), [0x1f, 0x8b, 1, 2, 3]);
        await File.WriteAllBytesAsync(Path.Combine(corrupt, "t10k-labels-idx1-ubyte.gz"), [0x1f, 0x8b, 1, 2, 3]);
        await Experiments.Submit("good", Specs.Smoke);
        await Experiments.Submit("impossible-budget", Specs.Smoke with { BudgetMFlops = 0.05 });
        await Experiments.Submit("corrupt-data", Specs.Smoke with { Data = corrupt });
        await Experiments.Submit("params-budget", Specs.Smoke with { BudgetMParams = ParamsBudgetM });
        if (!_errors.ContainsKey("long"))
        {
            await Experiments.Cancel("long", "test: cancel while training");
            _outcomes["long"] = (await Experiments.Get("long"))!;
        }

        await Await("good", s => s.IsFinished, timeout, "'good' finishing");
        await Await("impossible-budget", s => s.IsFinished, timeout, "'impossible-budget' finishing");
        await Await("corrupt-data", s => s.IsFinished, timeout, "'corrupt-data' finishing");
        await Await("params-budget", s => s.IsFinished, timeout, "'params-budget' finishing");
        if (!_errors.ContainsKey("crashed"))
            await Await("crashed", s => s.IsFinished, timeout, "'crashed' finishing after recovery");
        Catalog = await Experiments.List();
    }

    /// <summary>
    /// The state a coordinator crash leaves between persisting "vital-blocks running" and publishing its command (the
    /// catalog updated, the experiment's state written, no command sent), and a catalog entry whose Submit crashed
    /// before the experiment's state was written. Then the recovery pass a restarted coordinator runs.
    /// </summary>
    private async Task SimulateCrashesAndRecover()
    {
        var grains = Host.Services.GetRequiredService<IGrainFactory>();
        var catalog = grains.GetGrain<IExperimentCatalogGrain>(0);
        var now = DateTimeOffset.UtcNow;
        var crashed = new ExperimentState
        {
            Id = "crashed",
            Spec = ExperimentSpecs.Resolve(Specs.Smoke),
            Status = ExperimentStatus.Running,
            SubmittedAt = now,
            CurrentStage = PipelineStages.VitalBlocks,
            Stages = { new StageRecord { Stage = PipelineStages.VitalBlocks, StartedAt = now } },
        };
        await catalog.Update(new ExperimentSummary(
            "crashed", "smoke", ExperimentStatus.Running, PipelineStages.VitalBlocks, now, null, null));
        await Host.Services.GetRequiredKeyedService<IGrainStorage>(ExperimentGrain.Storage)
            .WriteStateAsync(
                "experiment",
                grains.GetGrain<IExperimentGrain>("crashed").GetGrainId(),
                new GrainState<ExperimentState>(crashed));
        await catalog.Update(new ExperimentSummary(
            "half-submitted", "smoke", ExperimentStatus.Running, PipelineStages.VitalBlocks, now, null, null));

        Checks = (await grains.GetGrain<IExperimentGrain>("crashed").Check(),
            await grains.GetGrain<IExperimentGrain>("half-submitted").Check(),
            await grains.GetGrain<IExperimentGrain>("crashed").Check());
    }

    public async Task DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
        Artifacts.Dispose();
    }
}

public sealed class EmbeddedPipelineTests(EmbeddedScenario scenario) : IClassFixture<EmbeddedScenario>
{
    [Fact]
    public void The_smoke_experiment_runs_every_stage_once_in_order_and_learns()
    {
        var good = scenario.Good;
        Assert.True(good.Status == ExperimentStatus.Completed, Waits.Describe(good));
        Assert.Equal(PipelineStages.All, good.Stages.Select(s => s.Stage));
        Assert.All(good.Stages, s => Assert.Equal(StageStatus.Completed, s.Status));
        Assert.All(good.Stages, s =>
            Assert.True(s.CommandSentAt >= s.StartedAt, $"{s.Stage}: command sent at {s.CommandSentAt}"));
        // A training stage's seconds run from a worker taking its command, not from its queuing. (A stage of a few
        // milliseconds may see its "received" report arrive after its result; it then keeps the queued time.)
        Assert.All(good.Stages.Where(s => s.Stage is PipelineStages.VitalSearch or PipelineStages.NonVitalSearch
            or PipelineStages.Retrain), s =>
        {
            Assert.True(s.ReceivedAt >= s.CommandSentAt && s.ReceivedAt <= s.EndedAt,
                $"{s.Stage}: received at {s.ReceivedAt}");
            Assert.Equal((s.EndedAt!.Value - s.ReceivedAt!.Value).TotalSeconds, s.Seconds!.Value, 6);
            Assert.NotEmpty(s.Workers);
        });
        // Training stages started once, from scratch.
        Assert.All(good.Stages.Where(s => s.Stage is PipelineStages.VitalSearch or PipelineStages.NonVitalSearch
                or PipelineStages.Retrain),
            s => Assert.Equal((1, 0), (s.Starts, s.ResumedFromEpoch)));
        var space = new ArchitectureSpace(Presets.Skeleton("smoke"));
        Assert.Equal(space.VitalBlocks, good.VitalBlocks);
        var result = good.Result!;
        Assert.Equal(space.Costs.Of(space.Parse(result.Genotype)).Total.MFlops, result.MFlops, 6);
        Assert.InRange(result.MFlops, 0.9 * 0.8, 0.8);  // inside the default window of the smoke preset
        Assert.InRange(result.Top1, 0.3, 1.0);          // chance is 0.1; the smoke run reaches about 0.7
        // One row per block that is not a skip; disabling any vital block leaves chance accuracy.
        Assert.Equal(space.Parse(result.Genotype).Blocks.Count(op => !op.IsSkip), result.Ablation.Count);
        Assert.All(result.Ablation.Where(a => a.Vital), a => Assert.InRange(a.Top1, 0, 0.2));
    }

    [Fact]
    public void A_parameter_budget_alone_is_the_window_every_stage_keeps()
    {
        var state = scenario.ParamsBudget;
        Assert.True(state.Status == ExperimentStatus.Completed, Waits.Describe(state));
        Assert.Null(state.Spec!.BudgetMFlops);
        var (min, max) = (0.9 * EmbeddedScenario.ParamsBudgetM * 1e6, EmbeddedScenario.ParamsBudgetM * 1e6);
        Assert.InRange(state.Result!.Params, min, max);
        var space = new ArchitectureSpace(Presets.Skeleton("smoke"));
        Assert.Equal(space.Costs.Of(space.Parse(state.Result.Genotype)).Total.Params, state.Result.Params);
    }

    [Fact]
    public void A_stage_whose_command_a_crash_kept_from_the_broker_is_sent_by_the_recovery_pass_and_runs_once()
    {
        // The first pass sent the one missing command; the second found it sent (in flight now) and sent nothing.
        Assert.Equal((CheckOutcome.CommandSent, CheckOutcome.Forgotten, CheckOutcome.Nothing), scenario.Checks);
        var recovered = scenario.Recovered;
        Assert.True(recovered.Status == ExperimentStatus.Completed, Waits.Describe(recovered));
        Assert.Equal(PipelineStages.All, recovered.Stages.Select(s => s.Stage));
        Assert.All(recovered.Stages, s => Assert.NotNull(s.CommandSentAt));
        Assert.Equal(1, recovered.Stage(PipelineStages.VitalSearch)!.Starts);
        Assert.InRange(recovered.Result!.Top1, 0.3, 1.0);
        // The catalog entry of the Submit that crashed before any state was written is gone; the others stay.
        Assert.DoesNotContain(scenario.Catalog, e => e.Id == "half-submitted");
        Assert.Contains(scenario.Catalog, e => e.Id == "crashed" && e.Status == ExperimentStatus.Completed);
    }

    [Fact]
    public void The_experiment_folder_holds_the_genotype_weights_csvs_and_plots()
    {
        var folder = scenario.Store.ExperimentFolder("good");
        foreach (var name in new[] { "genotype.json", "weights.dat", "weights.pth", "experiment.json", "stages.csv",
                     "progress.csv", "training-curves.png", "training-curves.svg", "accuracy-vs-flops.png",
                     "accuracy-vs-flops.svg", "ablation.png", "ablation.svg" })
            Assert.Contains(Path.Combine(folder, name), scenario.Report);
        foreach (var png in scenario.Report.Where(f => f.EndsWith(".png")))
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
        // The report's record of the experiment is the completed one the API returns.
        var recorded = System.Text.Json.JsonSerializer.Deserialize<ExperimentState>(
            File.ReadAllText(Path.Combine(folder, "experiment.json")), PipelineJson.Options)!;
        Assert.Equal((ExperimentStatus.Completed, scenario.Good.EndedAt), (recorded.Status, recorded.EndedAt));
        var stages = File.ReadAllLines(Path.Combine(folder, "stages.csv"));
        Assert.Equal(1 + PipelineStages.All.Count, stages.Length);
        Assert.Contains(File.ReadAllLines(Path.Combine(folder, "progress.csv")), l => l.StartsWith("retrain,epoch,"));
        // Every stage event's artifacts, and the report's, exist under the root.
        Assert.Contains(scenario.Good.Stage(PipelineStages.Retrain)!.Artifacts, a => a.Path == "good/ablation.png");
        Assert.All(scenario.Good.Stages.SelectMany(s => s.Artifacts),
            a => Assert.True(File.Exists(scenario.Store.Resolve(a.Path)), a.Path));
    }

    [Fact]
    public void Every_stage_span_and_epoch_span_of_the_experiment_is_in_its_one_trace()
    {
        var root = Assert.Single(scenario.Spans, s => s.DisplayName == "experiment good");
        var stageSpans = scenario.Spans
            .Where(s => s.Source.Name.StartsWith("HourNas.") && s.Source.Name != "HourNas.Training"
                && Equals(s.GetTagItem("hournas.experiment"), "good") && s.DisplayName != "experiment good"
                && !s.DisplayName.StartsWith("start "))
            .ToArray();
        Assert.Equal(PipelineStages.All.Order(), stageSpans.Select(s => s.DisplayName).Order());
        Assert.All(stageSpans, s => Assert.Equal(root.TraceId, s.TraceId));
        var stageSpanIds = stageSpans.Select(s => s.SpanId).ToHashSet();
        var epochs = scenario.Spans
            .Where(s => s.Source.Name == "HourNas.Training" && s.TraceId == root.TraceId)
            .ToArray();
        Assert.Contains(epochs, e => e.DisplayName == "retrain epoch 2");
        Assert.All(epochs, e => Assert.Contains(e.ParentSpanId, stageSpanIds));
        // The bus's own spans joined the trace too.
        Assert.Contains(scenario.Spans, s => s.Source.Name == "MassTransit" && s.TraceId == root.TraceId);
    }

    [Fact]
    public void Cancelling_stops_the_running_stage_and_nothing_follows()
    {
        var cancelled = scenario.Cancelled;
        Assert.Equal(ExperimentStatus.Cancelled, cancelled.Status);
        Assert.Equal("test: cancel while training", cancelled.FailureReason);
        Assert.Equal(StageStatus.Cancelled, cancelled.Stage(PipelineStages.VitalSearch)!.Status);
        Assert.Null(cancelled.Stage(PipelineStages.Shrink));
        // The worker stopped: stage 1 never reached its 20th epoch nor wrote a result.
        Assert.False(File.Exists(
            Path.Combine(scenario.Store.StageFolder("long", PipelineStages.VitalSearch), "completed.json")));
        Assert.DoesNotContain(cancelled.Progress, p => p.Phase == ProgressPhases.Epoch && p.Epoch == 20);
    }

    [Theory]
    [InlineData("impossible-budget", PipelineStages.VitalBlocks, "impossible budget")]
    [InlineData("corrupt-data", PipelineStages.VitalSearch, "train-images-idx3-ubyte.gz")]
    public void Bad_input_fails_the_experiment_at_its_stage_with_the_reason(string id, string stage, string reason)
    {
        var failed = id switch
        {
            "impossible-budget" => scenario.ImpossibleBudget,
            _ => scenario.CorruptData,
        };
        Assert.Equal(ExperimentStatus.Failed, failed.Status);
        Assert.StartsWith(stage + ": ", failed.FailureReason);
        Assert.Contains(reason, failed.FailureReason);
        Assert.Equal(StageStatus.Failed, failed.Stage(stage)!.Status);
        Assert.Equal(stage, failed.Stages[^1].Stage);
    }

    [Fact]
    public async Task Submitting_the_same_id_again_is_idempotent_and_a_different_spec_is_refused()
    {
        var again = await scenario.Experiments.Submit("good", Specs.Smoke);
        Assert.Equal(scenario.Good.SubmittedAt, again.SubmittedAt);
        Assert.Equal(PipelineStages.All.Count, again.Stages.Count);
        var conflict = await Assert.ThrowsAsync<ExperimentConflictException>(
            () => scenario.Experiments.Submit("good", Specs.Smoke with { Seed = 7 }));
        Assert.Contains("different spec", conflict.Message);
    }

    [Fact]
    public async Task Requests_about_unknown_or_finished_experiments_are_refused_with_the_reason()
    {
        Assert.Null(await scenario.Experiments.Get("no-such-experiment"));
        var finished = await Assert.ThrowsAsync<ExperimentConflictException>(
            () => scenario.Experiments.Cancel("good", null));
        Assert.Contains("already ended: Completed", finished.Message);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => scenario.Experiments.Cancel("no-such-experiment", null));
        var badId = await Assert.ThrowsAsync<ArgumentException>(() => scenario.Experiments.Get("../etc"));
        Assert.Contains("invalid experiment id", badId.Message);
    }

    [Fact]
    public async Task Unknown_presets_and_malformed_skeleton_files_are_refused_at_submission()
    {
        var unknown = await Assert.ThrowsAsync<SearchSpaceException>(
            () => scenario.Experiments.Submit("x1", new ExperimentSpec { Preset = "no-such-preset" }));
        Assert.Contains("unknown preset 'no-such-preset'", unknown.Message);
        var file = scenario.Artifacts["broken-skeleton.json"];
        await File.WriteAllTextAsync(file, "{ \"name\": \"broken\", \"stages\": [ ");
        var malformed = await Assert.ThrowsAsync<SearchSpaceException>(
            () => scenario.Experiments.Submit("x2", new ExperimentSpec { Preset = file }));
        Assert.Contains("broken-skeleton.json", malformed.Message);
        Assert.Null(await scenario.Experiments.Get("x1"));
        Assert.Null(await scenario.Experiments.Get("x2"));
    }

    [Fact]
    public async Task The_catalog_lists_every_experiment_with_its_status()
    {
        var list = await scenario.Experiments.List();
        Assert.Equal(["corrupt-data", "crashed", "good", "impossible-budget", "long", "params-budget"],
            list.Select(e => e.Id).Order());
        Assert.Equal(ExperimentStatus.Completed, list.Single(e => e.Id == "good").Status);
        Assert.Equal(scenario.Good.Result!.Top1, list.Single(e => e.Id == "good").Top1);
    }
}
