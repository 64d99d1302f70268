using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.ServiceDefaults;
using HourNas.Workers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HourNas.Embedded;

/// <summary>Embedded mode: the coordinator and every stage worker in one process.</summary>
public static class PipelineRegistration
{
    /// <summary>
    /// Embedded mode: the whole pipeline in one process (in-memory bus, one localhost silo on free ports, in-memory
    /// grain storage), as <c>hournas run</c> and the end-to-end tests use it. Settings override the configuration
    /// keys.
    /// </summary>
    public static HostApplicationBuilder EmbeddedPipeline(
        string artifactRoot, IDictionary<string, string?>? settings = null) =>
        Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "hournas", Args = [] })
            .AddEmbeddedPipeline(artifactRoot, settings);

    /// <summary>
    /// The embedded pipeline on any host builder (a web host adds <see cref="ExperimentApi"/> to it).
    /// </summary>
    public static TBuilder AddEmbeddedPipeline<TBuilder>(
        this TBuilder builder, string artifactRoot, IDictionary<string, string?>? settings = null)
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
        builder.AddServiceDefaults()
            .AddExperimentSilo()
            .AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.All).AddCoordinatorConsumers());
        builder.Services.AddSingleton<ExperimentService>();
        return builder;
    }
}
