using System.Net;
using HourNas.Contracts;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace HourNas.ServiceDefaults;

/// <summary>The wiring every HourNas host shares. A service's Program.cs calls these and adds its own consumers.</summary>
public static class Extensions
{
    /// <summary>Trace sources: the bus, Orleans, and one HourNas.&lt;Stage&gt; source per stage plus HourNas.Training for epochs.</summary>
    public static readonly string[] TraceSources = ["MassTransit", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "HourNas.*"];

    public static readonly string[] Meters = ["HourNas.*", "MassTransit"];

    public static PipelineOptions GetPipelineOptions(this IConfiguration configuration) =>
        configuration.GetSection(PipelineOptions.Section).Get<PipelineOptions>() ?? new PipelineOptions();

    /// <summary>Configuration, OpenTelemetry, health checks and the artifact store.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.Configure<PipelineOptions>(builder.Configuration.GetSection(PipelineOptions.Section));
        var options = builder.Configuration.GetPipelineOptions();
        builder.Services.AddSingleton(new ArtifactStore(options.Artifacts));
        // Configuration["urls"] holds ASPNETCORE_URLS, Urls and --urls alike.
        if (builder is WebApplicationBuilder web && string.IsNullOrEmpty(web.Configuration["urls"]) && options.DefaultUrls is { Length: > 0 } urls)
            web.WebHost.UseUrls(urls);

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Environment.ApplicationName, serviceInstanceId: options.WorkerName))
            .WithTracing(tracing =>
            {
                if (!options.TraceBackgroundCalls) tracing.AddProcessor(new BackgroundCallsFilter());
                tracing.AddSource(TraceSources).AddAspNetCoreInstrumentation(o => o.Filter = http => !IsHealthPath(http.Request.Path))
                    .AddHttpClientInstrumentation();
                if (options.TraceFile is { Length: > 0 } file) tracing.AddProcessor(new SimpleActivityExportProcessor(new JsonLinesSpanExporter(file)));
            })
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddAspNetCoreInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])) otel.UseOtlpExporter();

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// MassTransit on the configured transport, with the given consumers. Stage commands get exponential-backoff
    /// retries for transient faults; <see cref="StageRejectedException"/> is not retried. Messages that still fail go
    /// to the endpoint's error queue (RabbitMQ: <c>&lt;queue&gt;_error</c>), and a Fault event tells the coordinator.
    /// </summary>
    public static TBuilder AddPipelineBus<TBuilder>(this TBuilder builder, Action<IBusRegistrationConfigurator> consumers)
        where TBuilder : IHostApplicationBuilder
    {
        var options = builder.Configuration.GetPipelineOptions();
        // A worker counts as started only once its queues are bound: a command published earlier would find no queue.
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit reports usage to its vendor by default; nothing here may call out unasked.
            bus.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
            bus.SetKebabCaseEndpointNameFormatter();
            consumers(bus);
            if (options.Transport == Transport.RabbitMQ)
            {
                var uri = builder.Configuration.GetConnectionString("rabbitmq")
                    ?? throw new InvalidOperationException("HourNas:Transport is RabbitMQ but ConnectionStrings:rabbitmq is not set (amqp://user:password@host:port/vhost)");
                bus.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(new Uri(uri));
                    cfg.UsePipelineDefaults(options);
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                bus.UsingInMemory((context, cfg) =>
                {
                    cfg.UsePipelineDefaults(options);
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
        return builder;
    }

    /// <summary>Retries with exponential backoff (not for rejected input or cancellation), and JSON that carries NaN.</summary>
    public static void UsePipelineDefaults(this IBusFactoryConfigurator cfg, PipelineOptions options)
    {
        // Progress before the first step has no loss yet: NaN must cross the wire.
        cfg.ConfigureJsonSerializerOptions(json =>
        {
            json.NumberHandling |= System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
            return json;
        });
        cfg.UseMessageRetry(r =>
        {
            r.Exponential(options.Retries, options.RetryMinInterval, TimeSpan.FromSeconds(30), options.RetryMinInterval);
            r.Ignore<StageRejectedException>();
            r.Ignore<OperationCanceledException>();
        });
    }

    /// <summary>
    /// The Orleans silo that holds the experiment grains. Localhost: one silo, in-memory storage (embedded mode).
    /// Redis: Orleans' Redis clustering and grain storage, so a restarted coordinator finds every experiment.
    /// </summary>
    public static TBuilder AddExperimentSilo<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var options = builder.Configuration.GetPipelineOptions();
        // Port 0: a free one, probed only when asked for.
        var free = new Queue<int>(LoopbackPorts.PickFree(new[] { options.SiloPort, options.GatewayPort }.Count(p => p == 0)));
        var siloPort = options.SiloPort == 0 ? free.Dequeue() : options.SiloPort;
        var gatewayPort = options.GatewayPort == 0 ? free.Dequeue() : options.GatewayPort;
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = "hournas";
            });
            if (options.Clustering == Clustering.Redis)
            {
                var redis = builder.Configuration.GetConnectionString("redis")
                    ?? throw new InvalidOperationException("HourNas:Clustering is Redis but ConnectionStrings:redis is not set (host:port)");
                silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                silo.AddRedisGrainStorage("experiments", o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                builder.Services.AddSingleton(new RedisHealthCheck(redis));
                builder.Services.AddHealthChecks()
                    .AddCheck<RedisHealthCheck>("redis", HealthStatus.Unhealthy, ["ready"]);
                var advertised = options.AdvertisedSiloAddress();
                silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
            }
            else
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort);
                silo.AddMemoryGrainStorage("experiments");
            }
            silo.AddActivityPropagation();
            // Contracts stay free of Orleans attributes: grains receive them as JSON (NaN allowed: a loss before the first step).
            silo.Services.AddSerializer(s => s.AddJsonSerializer(isSupported: t => t.Namespace == typeof(ExperimentSpec).Namespace,
                new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.General)
                {
                    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
                }));
        });
        return builder;
    }

    /// <summary>
    /// /health (everything: the bus, and Redis on a coordinator with Redis clustering) and /alive (the process
    /// answers).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }

    private static bool IsHealthPath(string? path) => path is "/health" or "/alive";
}
