using MassTransit;

namespace HourNas.Coordination;

/// <summary>
/// The coordinator's consumers hand each event to a grain, which writes its state to Redis. While Redis is away that
/// write fails; the consumer waits it out (10 tries, 1 s growing to 30 s, about 3.5 min, inside each of the bus's own
/// tries: about 14 min in all) instead of dead-lettering the event after seconds. Events of the stage table go to
/// <c>experiment-events</c>, faults to <c>stage-fault</c>.
/// </summary>
public sealed class CoordinatorConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    public const int OutageRetries = 10;

    public CoordinatorConsumerDefinition() =>
        EndpointName = typeof(TConsumer).IsGenericType
            && typeof(TConsumer).GetGenericTypeDefinition() == typeof(StageFaultConsumer<>)
                ? CoordinatorRegistration.FaultsQueue
                : CoordinatorRegistration.EventsQueue;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<TConsumer> consumer, IRegistrationContext context) =>
        consumer.UseMessageRetry(r =>
        {
            r.Exponential(OutageRetries, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2));
            // A grain's refusal (a conflict, an unknown id) is no outage: retrying cannot help.
            r.Ignore<ArgumentException>();
        });
}
