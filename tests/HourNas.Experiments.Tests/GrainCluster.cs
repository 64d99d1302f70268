using System.Collections.Concurrent;
using HourNas.Contracts;
using HourNas.Experiments;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.TestingHost;

namespace HourNas.Experiments.Tests;

/// <summary>
/// What the grains sent, per experiment, in place of the bus; it can refuse sends to play a broker that is away.
/// One instance for every test silo of this process (test silos run in process).
/// </summary>
public sealed class RecordingSender : IStageCommandSender
{
    public static readonly RecordingSender Instance = new();

    private readonly ConcurrentDictionary<string, ConcurrentQueue<object>> _sent = new();
    private readonly ConcurrentDictionary<string, int> _refusals = new();

    /// <summary>The next <paramref name="sends"/> sends of this experiment throw, as a broker that is away.</summary>
    public void Refuse(string experimentId, int sends = 1) => _refusals[experimentId] = sends;

    public IReadOnlyList<IStageMessage> Commands(string experimentId) =>
        [.. Sent(experimentId).OfType<IStageMessage>()];

    public IReadOnlyList<CancelExperiment> Cancels(string experimentId) =>
        [.. Sent(experimentId).OfType<CancelExperiment>()];

    public Task Send(IStageMessage command, string? traceParent, TimeSpan timeout) =>
        Record(command.ExperimentId, command);

    public Task Cancel(CancelExperiment cancel, TimeSpan timeout) => Record(cancel.ExperimentId, cancel);

    private ConcurrentQueue<object> Sent(string id) => _sent.GetOrAdd(id, _ => new ConcurrentQueue<object>());

    private Task Record(string id, object message)
    {
        if (_refusals.TryGetValue(id, out var left) && left > 0)
        {
            _refusals[id] = left - 1;
            throw new TimeoutException("the broker did not take the message (test)");
        }
        Sent(id).Enqueue(message);
        return Task.CompletedTask;
    }
}

/// <summary>
/// One test silo with the experiment grains, in-memory storage and reminders, and the recording sender.
/// </summary>
public abstract class GrainCluster<TSilo> : IAsyncLifetime where TSilo : ISiloConfigurator, new()
{
    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<TSilo>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder client) =>
            client.Services.AddSerializer(s => s.AddContractsAsJson());
    }
}

/// <summary>Silo settings shared by the clusters; each fixes its own policy.</summary>
public abstract class SiloConfigurator : ISiloConfigurator
{
    protected abstract void Policy(CoordinatorPolicy policy);

    public void Configure(ISiloBuilder silo)
    {
        silo.AddMemoryGrainStorage(ExperimentGrain.Storage);
        silo.UseInMemoryReminderService();
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        silo.Services.AddSerializer(s => s.AddContractsAsJson());
        silo.Services.AddSingleton<IStageCommandSender>(RecordingSender.Instance);
        silo.Services.Configure<CoordinatorPolicy>(Policy);
    }
}

/// <summary>No reminders (each test calls Check itself); silence after 200 ms; two attempts per stage.</summary>
public sealed class ManualChecks : GrainCluster<ManualChecks.Silo>
{
    public static readonly TimeSpan SilenceLimit = TimeSpan.FromMilliseconds(200);

    public sealed class Silo : SiloConfigurator
    {
        protected override void Policy(CoordinatorPolicy policy)
        {
            policy.RecoveryInterval = Timeout.InfiniteTimeSpan;
            policy.StageSilenceLimit = SilenceLimit;
            policy.StageAttempts = 2;
        }
    }
}

/// <summary>Reminders every second, as a coordinator runs them (shortened).</summary>
public sealed class WithReminders : GrainCluster<WithReminders.Silo>
{
    public sealed class Silo : SiloConfigurator
    {
        protected override void Policy(CoordinatorPolicy policy)
        {
            policy.RecoveryInterval = TimeSpan.FromSeconds(1);
            policy.StageSilenceLimit = TimeSpan.FromHours(1);
        }
    }
}
