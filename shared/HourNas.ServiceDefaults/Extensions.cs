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

namespace HourNas.ServiceDefaults;

/// <summary>
/// The wiring every HourNas host shares. A service's Program.cs calls these and adds its own consumers.
/// </summary>
public static class Extensions
{
    /// <summary>
    /// Trace sources: the bus, Orleans, and one HourNas.&lt;Stage&gt; source per stage plus HourNas.Training for
    /// epochs.
    /// </summary>
    public static readonly string[] TraceSources =
        ["MassTransit", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "HourNas.*"];

    public static readonly string[] Meters = ["HourNas.*", "MassTransit"];

    public static PipelineOptions GetPipelineOptions(this IConfiguration configuration) =>
        configuration.GetSection(PipelineOptions.Section).Get<PipelineOptions>() ?? new PipelineOptions();

    /// <summary>Configuration, OpenTelemetry and health checks.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.Configure<PipelineOptions>(builder.Configuration.GetSection(PipelineOptions.Section));
        var options = builder.Configuration.GetPipelineOptions();
        // Configuration["urls"] holds ASPNETCORE_URLS, Urls and --urls alike.
        if (builder is WebApplicationBuilder web && string.IsNullOrEmpty(web.Configuration["urls"])
            && options.DefaultUrls is { Length: > 0 } urls)
            web.WebHost.UseUrls(urls);

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
                r.AddService(builder.Environment.ApplicationName, serviceInstanceId: options.WorkerName))
            .WithTracing(tracing =>
            {
                if (!options.TraceBackgroundCalls) tracing.AddProcessor(new BackgroundCallsFilter());
                tracing.AddSource(TraceSources)
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsHealthPath(http.Request.Path))
                    .AddHttpClientInstrumentation();
                if (options.TraceFile is { Length: > 0 } file)
                    tracing.AddProcessor(new SimpleActivityExportProcessor(new JsonLinesSpanExporter(file)));
            })
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddAspNetCoreInstrumentation().AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            otel.UseOtlpExporter();

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// MassTransit on the configured transport, with the given consumers. Stage commands get exponential-backoff
    /// retries for transient faults; <see cref="StageRejectedException"/> is not retried. Messages that still fail go
    /// to the endpoint's error queue (RabbitMQ: <c>&lt;queue&gt;_error</c>), and a Fault event tells the coordinator.
    /// </summary>
    public static TBuilder AddPipelineBus<TBuilder>(
        this TBuilder builder, Action<IBusRegistrationConfigurator> consumers)
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
                    ?? throw new InvalidOperationException(
                        "HourNas:Transport is RabbitMQ but ConnectionStrings:rabbitmq is not set " +
                        "(amqp://user:password@host:port/vhost)");
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

    /// <summary>
    /// Retries with exponential backoff (not for rejected input or cancellation), and JSON that carries NaN.
    /// </summary>
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
            r.Exponential(
                options.Retries, options.RetryMinInterval, TimeSpan.FromSeconds(30), options.RetryMinInterval);
            r.Ignore<StageRejectedException>();
            r.Ignore<OperationCanceledException>();
        });
    }

    /// <summary>
    /// /health (everything: the bus, and Redis on a coordinator with Redis clustering), /alive (the process
    /// answers), /metrics (Prometheus' text format), and the API keys that guard everything but the health probes.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseApiKeys();
        app.MapPrometheusScrapingEndpoint();
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }

    private static bool IsHealthPath(string? path) => path is "/health" or "/alive";
}
