using HourNas.Contracts;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace HourNas.Workers;

/// <summary>What a stage worker host adds to the service defaults: the consumers of the stages it serves.</summary>
public static class WorkerRegistration
{
    /// <summary>
    /// The consumer of each given stage's command (names from <see cref="PipelineStages"/>; its queue and concurrency
    /// from the stage's row), plus this worker's cancel listener.
    /// </summary>
    public static IBusRegistrationConfigurator AddStageConsumers(this IBusRegistrationConfigurator bus,
        params IEnumerable<string> stages)
    {
        bus.TryAddSingleton<ExperimentCancellations>();
        bus.TryAddSingleton<DatasetCache>();
        bus.TryAddSingleton<StageServices>();
        bus.TryAddSingleton(services =>
            new ArtifactStore(services.GetRequiredService<IConfiguration>().GetPipelineOptions().Artifacts));
        foreach (var stage in stages.Distinct().Select(PipelineStages.Named))
        {
            var consumer = ConsumerOf(stage);
            bus.AddConsumer(consumer, typeof(StageConsumerDefinition<>).MakeGenericType(consumer));
        }
        // Every worker instance needs every cancel: its own temporary queue, not a shared one.
        bus.AddConsumer<CancelExperimentConsumer>().Endpoint(e =>
        {
            e.InstanceId = Guid.NewGuid().ToString("N")[..12];
            e.Temporary = true;
        });
        return bus;
    }

    /// <summary>The class of this library that consumes the stage's command.</summary>
    public static Type ConsumerOf(StageDefinition stage) =>
        typeof(WorkerRegistration).Assembly.GetTypes().SingleOrDefault(t => !t.IsAbstract
            && typeof(IConsumer<>).MakeGenericType(stage.Command).IsAssignableFrom(t))
        ?? throw new InvalidOperationException($"no consumer of {stage.Command.Name} (stage '{stage.Name}')");
}
