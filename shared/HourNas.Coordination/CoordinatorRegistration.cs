using System.Net;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;
using StackExchange.Redis;

namespace HourNas.Coordination;

/// <summary>
/// What a coordinator host adds to the service defaults: the silo, the stage events' consumers, the API.
/// </summary>
public static class CoordinatorRegistration
{
    public static CoordinatorPolicy GetCoordinatorPolicy(this IConfiguration configuration) =>
        configuration.GetSection(PipelineOptions.Section).Get<CoordinatorPolicy>() ?? new CoordinatorPolicy();

    /// <summary>
    /// The Orleans silo that holds the experiment grains. Localhost: one silo, in-memory storage (embedded mode).
    /// Redis: Orleans' Redis clustering and grain storage, so a restarted coordinator finds every experiment.
    /// </summary>
    public static TBuilder AddExperimentSilo<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var options = builder.Configuration.GetPipelineOptions();
        var policy = builder.Configuration.GetCoordinatorPolicy();
        // Port 0: a free one, probed only when asked for.
        var free = new Queue<int>(
            LoopbackPorts.PickFree(new[] { options.SiloPort, options.GatewayPort }.Count(p => p == 0)));
        var siloPort = options.SiloPort == 0 ? free.Dequeue() : options.SiloPort;
        var gatewayPort = options.GatewayPort == 0 ? free.Dequeue() : options.GatewayPort;
        // Lifecycle events leave the grains through the webhook outbox (none configured: it holds nothing).
        builder.Services.AddOptions<Webhooks.WebhookOptions>().BindConfiguration(Webhooks.WebhookOptions.Section);
        builder.Services.AddHttpClient(Webhooks.WebhookOutbox.ClientName);
        builder.Services.TryAddSingleton<Webhooks.WebhookOutbox>();
        builder.Services.AddSingleton<IExperimentEvents>(s => s.GetRequiredService<Webhooks.WebhookOutbox>());
        builder.Services.AddHostedService(s => s.GetRequiredService<Webhooks.WebhookOutbox>());
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
                    ?? throw new InvalidOperationException(
                        "HourNas:Clustering is Redis but ConnectionStrings:redis is not set (host:port)");
                silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                silo.AddRedisGrainStorage(ExperimentGrain.Storage,
                    o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                silo.UseRedisReminderService(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                builder.Services.AddSingleton(new RedisHealthCheck(redis));
                builder.Services.AddHealthChecks()
                    .AddCheck<RedisHealthCheck>("redis", HealthStatus.Unhealthy, ["ready"]);
                var advertised = options.AdvertisedSiloAddress();
                silo.ConfigureEndpoints(
                    advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
            }
            else
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort);
                silo.AddMemoryGrainStorage(ExperimentGrain.Storage);
                silo.UseInMemoryReminderService();
            }
            silo.AddActivityPropagation();
            silo.Services.AddSerializer(s => s.AddContractsAsJson());
            builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo", HealthStatus.Unhealthy, ["ready"]);
            // Reminders watch each unfinished experiment; they may tick faster than Orleans' default minimum.
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod =
                policy.RemindersOn && policy.RecoveryInterval < o.MinimumReminderPeriod
                    ? policy.RecoveryInterval : o.MinimumReminderPeriod);
        });
        return builder;
    }

    /// <summary>
    /// The consumers of every stage's event and of every stage command's fault (from
    /// <see cref="Contracts.PipelineStages"/>), and the grains' sender port on this bus.
    /// </summary>
    public static IBusRegistrationConfigurator AddCoordinatorConsumers(this IBusRegistrationConfigurator bus)
    {
        foreach (var stage in Contracts.PipelineStages.Sequence)
        {
            AddConsumer(bus, typeof(StageEventConsumer<>).MakeGenericType(stage.Event));
            AddConsumer(bus, typeof(StageFaultConsumer<>).MakeGenericType(stage.Command));
        }
        AddConsumer(bus, typeof(StageReportsConsumer));
        bus.TryAddSingleton<IStageCommandSender, BusStageCommandSender>();
        bus.TryAddSingleton(services =>
            new ArtifactStore(services.GetRequiredService<IConfiguration>().GetPipelineOptions().Artifacts));
        bus.AddOptions<CoordinatorPolicy>().BindConfiguration(PipelineOptions.Section);
        // Only a broker has error queues to count; on the in-memory transport the check has none.
        bus.TryAddSingleton(services =>
        {
            var configuration = services.GetRequiredService<IConfiguration>();
            return new ErrorQueues(configuration.GetPipelineOptions().Transport == Transport.RabbitMQ
                ? configuration.GetConnectionString("rabbitmq") : null);
        });
        bus.AddHealthChecks().AddCheck<ErrorQueues>("error-queues", HealthStatus.Degraded, ["ready"]);
        return bus;
    }

    private static void AddConsumer(IBusRegistrationConfigurator bus, Type consumer) =>
        bus.AddConsumer(consumer, typeof(CoordinatorConsumerDefinition<>).MakeGenericType(consumer));

    /// <summary>The queue of every stage event and progress report.</summary>
    public const string EventsQueue = "experiment-events";

    /// <summary>The queue of every stage command's fault.</summary>
    public const string FaultsQueue = "stage-fault";
}
