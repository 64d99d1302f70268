using System.Diagnostics;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace HourNas.Coordination;

/// <summary>Submit, query and cancel experiments: what the HTTP API and <c>hournas run</c> both call.</summary>
public sealed class ExperimentService(IGrainFactory grains, IOptions<PipelineOptions> options)
{
    private readonly DataRoots _dataRoots = new(options.Value.EffectiveDataRoots());

    /// <summary>
    /// Resolves and checks the spec (throws <see cref="SearchSpaceException"/> or <see cref="ArgumentException"/> on
    /// bad input), opens the experiment's root span and starts it. The same id with the same spec returns the existing
    /// experiment.
    /// </summary>
    public async Task<ExperimentState> Submit(string? id, ExperimentSpec spec)
    {
        id = ArtifactStore.CheckExperimentId(id ?? NewId(spec.Preset));
        var resolved = ExperimentSpecs.Admit(ExperimentSpecs.Resolve(spec), options.Value.Devices, _dataRoots);
        var grain = grains.GetGrain<IExperimentGrain>(id);
        if (await grain.Get() is { } existing)
        {
            if (!resolved.SameAs(existing.Spec))
                throw new ExperimentConflictException($"experiment '{id}' already exists with a different spec");
            return existing;
        }
        using var root = BusStageCommandSender.Source.StartActivity($"experiment {id}", ActivityKind.Server);
        root?.SetTag("hournas.experiment", id);
        root?.SetTag("hournas.preset", resolved.Preset);
        root?.SetTag("hournas.budget_mflops", resolved.BudgetMFlops);
        root?.SetTag("hournas.budget", ExperimentSpecs.DescribeBudget(resolved));
        return await grain.Submit(resolved, root?.Id);
    }

    public Task<ExperimentState?> Get(string id) =>
        grains.GetGrain<IExperimentGrain>(ArtifactStore.CheckExperimentId(id)).Get();

    public Task<IReadOnlyList<ExperimentSummary>> List() => grains.GetGrain<IExperimentCatalogGrain>(0).List();

    public Task<ExperimentState> Cancel(string id, string? reason) =>
        grains.GetGrain<IExperimentGrain>(ArtifactStore.CheckExperimentId(id))
            .Cancel(reason ?? "cancelled by the user");

    public static string NewId(string preset) =>
        $"{new string(preset.Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').Take(32).ToArray())}-" +
        $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
}
