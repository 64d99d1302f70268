using System.Collections.Concurrent;
using HourNas.Contracts;
using HourNas.Experiments;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
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
    private readonly ConcurrentDictionary<string, bool> _cancelRefusals = new();

    /// <summary>The next <paramref name="sends"/> sends of this experiment throw, as a broker that is away.</summary>
    public void Refuse(string experimentId, int sends = 1) => _refusals[experimentId] = sends;

    public IReadOnlyList<IStageMessage> Commands(string experimentId) =>
        [.. Sent(experimentId).OfType<IStageMessage>()];

    public IReadOnlyList<CancelExperiment> Cancels(string experimentId) =>
        [.. Sent(experimentId).OfType<CancelExperiment>()];

    public Task Send(IStageMessage command, string? traceParent, TimeSpan timeout) =>
        Record(command.ExperimentId, command);

    public Task Cancel(CancelExperiment cancel, TimeSpan timeout) =>
        _cancelRefusals.TryRemove(cancel.ExperimentId, out _)
            ? throw new TimeoutException("the broker did not take the cancel (test)")
            : Record(cancel.ExperimentId, cancel);

    /// <summary>The next cancel of this experiment throws; its commands go out.</summary>
    public void RefuseCancel(string experimentId) => _cancelRefusals[experimentId] = true;

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

/// <summary>
/// Grain storage in memory that refuses the next writes of chosen grains, or every write while <see cref="Down"/>
/// is set, as a store that is away and fails fast (Redis refusing connections). It keeps copies, as a real store
/// does: what a refused write changed in a grain's memory is not stored. Also used by the pipeline's outage test.
/// </summary>
public sealed class RefusingStorage(DeepCopier copier) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, int> Refusals = new();
    private readonly ConcurrentDictionary<(string, GrainId), (object State, string ETag)> _states = new();
    private int _refused;

    /// <summary>The next <paramref name="writes"/> writes of the grain keyed <paramref name="key"/> throw.</summary>
    public static void Refuse(string key, int writes = 1) => Refusals[key] = writes;

    /// <summary>While set, this store refuses every write.</summary>
    public volatile bool Down;

    /// <summary>Writes this store refused so far.</summary>
    public int Refused => _refused;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_states.TryGetValue((stateName, grainId), out var stored))
        {
            grainState.State = copier.Copy((T)stored.State);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        var refuse = Down;
        if (!refuse && Refusals.TryGetValue(key, out var left) && left > 0)
        {
            Refusals[key] = left - 1;
            refuse = true;
        }
        if (refuse)
        {
            Interlocked.Increment(ref _refused);
            throw new IOException("the store refused the write (test)");
        }
        var etag = Guid.NewGuid().ToString("N");
        _states[(stateName, grainId)] = (copier.Copy(grainState.State)!, etag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _states.TryRemove((stateName, grainId), out _);
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}

/// <summary>No reminders, and a store that can refuse writes (<see cref="RefusingStorage"/>).</summary>
public sealed class RefusingStore : GrainCluster<RefusingStore.Silo>
{
    public sealed class Silo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Services.AddKeyedSingleton<IGrainStorage>(ExperimentGrain.Storage,
                (services, _) => new RefusingStorage(services.GetRequiredService<DeepCopier>()));
            silo.UseInMemoryReminderService();
            silo.Services.AddSerializer(s => s.AddContractsAsJson());
            silo.Services.AddSingleton<IStageCommandSender>(RecordingSender.Instance);
            silo.Services.Configure<CoordinatorPolicy>(p => p.RecoveryInterval = Timeout.InfiniteTimeSpan);
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
