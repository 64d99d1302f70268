using HourNas.Components.Coordinator;
using HourNas.Components.Stages;
using HourNas.Contracts;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HourNas.Components;

/// <summary>What each host adds: a worker its stages' consumers, the coordinator its event consumers; embedded mode all of them.</summary>
public static class PipelineRegistration
{
    /// <summary>Consumers of the given stages (names from <see cref="PipelineStages"/>), plus this worker's cancel listener.</summary>
    public static IBusRegistrationConfigurator AddStageConsumers(this IBusRegistrationConfigurator bus, params IEnumerable<string> stages)
    {
        bus.AddSingleton<ExperimentCancellations>();
        bus.AddSingleton<DatasetCache>();
        bus.AddSingleton<StageServices>();
        foreach (var stage in stages.Distinct())
        {
            switch (stage)
            {
                case PipelineStages.VitalBlocks: bus.AddConsumer<AnalyzeVitalBlocksConsumer>(); break;
                case PipelineStages.VitalSearch: bus.AddConsumer<SearchVitalBlocksConsumer, SupernetStageDefinition<SearchVitalBlocksConsumer>>(); break;
                case PipelineStages.Shrink: bus.AddConsumer<ShrinkSearchSpaceConsumer>(); break;
                case PipelineStages.NonVitalSearch: bus.AddConsumer<SearchNonVitalBlocksConsumer, SupernetStageDefinition<SearchNonVitalBlocksConsumer>>(); break;
                case PipelineStages.Retrain: bus.AddConsumer<RetrainArchitectureConsumer, TrainingStageDefinition<RetrainArchitectureConsumer>>(); break;
                default: throw new ArgumentException($"unknown stage '{stage}': the stages are {string.Join(", ", PipelineStages.All)}");
            }
        }
        // Every worker instance needs every cancel: its own temporary queue, not a shared one.
        bus.AddConsumer<CancelExperimentConsumer>().Endpoint(e =>
        {
            e.InstanceId = Guid.NewGuid().ToString("N")[..12];
            e.Temporary = true;
        });
        return bus;
    }

    public static IBusRegistrationConfigurator AddCoordinatorConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<ExperimentEventsConsumer>();
        bus.AddConsumer<StageFaultConsumer>();
        bus.AddSingleton<ExperimentRecovery>();
        bus.AddHostedService(services => services.GetRequiredService<ExperimentRecovery>());
        return bus;
    }

    /// <summary>
    /// Embedded mode: the whole pipeline in one process (in-memory bus, one localhost silo on free ports, in-memory grain
    /// storage), as <c>hournas run</c> and the end-to-end tests use it. Settings override the configuration keys.
    /// </summary>
    public static HostApplicationBuilder EmbeddedPipeline(string artifactRoot, IDictionary<string, string?>? settings = null) =>
        Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "hournas", Args = [] })
            .AddEmbeddedPipeline(artifactRoot, settings);

    /// <summary>The embedded pipeline on any host builder (a web host adds <see cref="Coordinator.ExperimentApi"/> to it).</summary>
    public static TBuilder AddEmbeddedPipeline<TBuilder>(this TBuilder builder, string artifactRoot, IDictionary<string, string?>? settings = null)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{PipelineOptions.Section}:{nameof(PipelineOptions.Artifacts)}"] = artifactRoot,
            [$"{PipelineOptions.Section}:{nameof(PipelineOptions.Transport)}"] = nameof(Transport.InMemory),
            [$"{PipelineOptions.Section}:{nameof(PipelineOptions.Clustering)}"] = nameof(Clustering.Localhost),
            [$"{PipelineOptions.Section}:{nameof(PipelineOptions.SiloPort)}"] = "0",
            [$"{PipelineOptions.Section}:{nameof(PipelineOptions.GatewayPort)}"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans"] = "Warning",
            ["Logging:LogLevel:MassTransit"] = "Warning",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults().AddExperimentSilo().AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.All).AddCoordinatorConsumers());
        builder.Services.AddSingleton<ExperimentService>();
        return builder;
    }
}
