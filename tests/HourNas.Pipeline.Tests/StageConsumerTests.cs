using System.Text.Json;
using HourNas.Contracts;
using HourNas.Embedded;
using HourNas.Engine.Stages;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using HourNas.Workers;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// Stage consumers on MassTransit's in-memory test harness, with the pipeline's own retry and JSON settings.
/// </summary>
public sealed class StageConsumerTests : IDisposable
{
    private readonly TempFolder _artifacts = new();

    private async Task<(ServiceProvider Provider, ITestHarness Harness)> Start(params string[] stages)
    {
        var options = new PipelineOptions
        {
            Artifacts = _artifacts.Path,
            RetryMinInterval = TimeSpan.FromMilliseconds(10),
        };
        var services = new ServiceCollection()
            .AddSingleton(new ArtifactStore(options.Artifacts))
            .AddSingleton(Options.Create(options))
            .AddLogging()
            .AddMassTransitTestHarness(bus =>
            {
                bus.AddStageConsumers(stages);
                bus.UsingInMemory((context, cfg) =>
                {
                    cfg.UsePipelineDefaults(options);
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = services.GetRequiredService<ITestHarness>();
        harness.TestTimeout = TimeSpan.FromSeconds(30);
        await harness.Start();
        return (services, harness);
    }

    private static ShrinkSearchSpace Shrink(string id) => new()
    {
        ExperimentId = id,
        Spec = ExperimentSpecs.Resolve(new ExperimentSpec { Preset = "fashion-mnist" }),
        VitalOperations = "k3e3 k3e3 k3e3 k3e3",
    };

    [Fact]
    public async Task Shrinking_publishes_the_affordable_space_and_writes_it_as_an_artifact()
    {
        var (provider, harness) = await Start(PipelineStages.Shrink);
        await using var _ = provider;
        await harness.Bus.Publish(Shrink("shrink-1"));

        Assert.True(await harness.Published.Any<SearchSpaceShrunk>());
        var shrunk = Assert.Single(harness.Published.Select<SearchSpaceShrunk>()).Context.Message;
        Assert.Equal("shrink-1", shrunk.ExperimentId);
        Assert.Equal(0.03718, shrunk.ShrinkRatio, 6);  // the exact count, as 'hournas shrink' reports it
        Assert.Equal("3718", shrunk.ArchitecturesInWindow);
        Assert.Equal(2.0, shrunk.MaxMFlops, 6);
        Assert.Equal(1.8, shrunk.MinMFlops, 6);
        // Every non-vital block keeps some operations, and each proposal is a distribution over them.
        Assert.Equal(5, shrunk.Affordable.Count);
        foreach (var (block, probabilities) in shrunk.Proposal)
        {
            Assert.Equal(shrunk.Affordable[block].Count, probabilities.Count);
            Assert.Equal(1.0, probabilities.Sum(), 6);
        }
        var artifact = Assert.Single(shrunk.Artifacts);
        Assert.Equal("shrink-1/shrink/shrunk.json", artifact.Path);
        Assert.True(File.Exists(Path.Combine(_artifacts.Path, artifact.Path)));
    }

    [Fact]
    public async Task A_redelivered_command_of_a_finished_stage_republishes_its_result_without_running_again()
    {
        var (provider, harness) = await Start(PipelineStages.Shrink);
        await using var _ = provider;
        await harness.Bus.Publish(Shrink("dup-1"));
        Assert.True(await harness.Published.Any<SearchSpaceShrunk>());

        // Tamper with the saved result: if the stage ran again, the real ratio would be published instead.
        var completed = Path.Combine(_artifacts.Path, "dup-1", "shrink", "completed.json");
        var saved = JsonSerializer.Deserialize<SearchSpaceShrunk>(File.ReadAllText(completed), HourNasStages.Json)!;
        File.WriteAllText(
            completed, JsonSerializer.Serialize(saved with { ShrinkRatio = 0.123456 }, HourNasStages.Json));
        await harness.Bus.Publish(Shrink("dup-1"));

        Assert.True(await harness.Consumed.Any<ShrinkSearchSpace>(x => x.Context.Message.ExperimentId == "dup-1"
            && harness.Published.Select<SearchSpaceShrunk>().Count() == 2));
        var results = harness.Published.Select<SearchSpaceShrunk>()
            .Select(x => x.Context.Message.ShrinkRatio)
            .ToArray();
        Assert.Equal(2, results.Length);
        Assert.Equal(0.123456, results[1]);
    }

    [Fact]
    public async Task Bad_input_faults_once_as_a_rejection_with_the_reason_and_without_retries()
    {
        var (provider, harness) = await Start(PipelineStages.VitalBlocks);
        await using var _ = provider;
        // Resolved spec, then an impossible budget: below the cheapest architecture of the smoke space (0.08 MFLOPs).
        var spec = ExperimentSpecs.Resolve(Specs.Smoke) with { BudgetMFlops = 0.01 };
        await harness.Bus.Publish(new AnalyzeVitalBlocks { ExperimentId = "bad-1", Spec = spec });

        var failed = Rejection(Assert.Single(harness.Published.Select<Fault<AnalyzeVitalBlocks>>()).Context.Message);
        Assert.Contains("budget", failed, StringComparison.OrdinalIgnoreCase);
        // The Fault is the only signal: no retry report for a rejected input.
        Assert.False(await harness.Published.Any<StageFailed>());
        // Not retried: one consumption, and no result.
        Assert.Single(harness.Consumed.Select<AnalyzeVitalBlocks>());
        Assert.False(await harness.Published.Any<VitalBlocksAnalyzed>());
    }

    [Fact]
    public async Task A_worker_refuses_a_command_whose_data_lies_outside_its_roots()
    {
        using var outside = new TempFolder();
        DataRootTests.Dataset(outside.Path);
        var (provider, harness) = await Start(PipelineStages.VitalSearch);
        await using var _ = provider;
        // As if published straight to the broker: the coordinator never saw this spec.
        await harness.Bus.Publish(new SearchVitalBlocks
        {
            ExperimentId = "data-1",
            Spec = ExperimentSpecs.Resolve(Specs.Smoke) with { Data = outside.Path },
        });
        Assert.True(await harness.Published.Any<Fault<SearchVitalBlocks>>());
        var failed = Rejection(Assert.Single(harness.Published.Select<Fault<SearchVitalBlocks>>()).Context.Message);
        Assert.Contains("is outside the data roots", failed);
    }

    [Theory]
    [InlineData("k3e1 | k3e3 k9e3 | k3e3 k3e3", "block 2 (stage 2, position 2): 'k9e3' is ")]
    [InlineData("k3e1 | skip k3e3 | k3e3 k3e3", "is vital")]
    [InlineData("k3e1 | k3e3", "stages")]
    public async Task A_malformed_genotype_is_rejected_by_retraining_with_the_reason(string genotype, string reason)
    {
        var (provider, harness) = await Start(PipelineStages.Retrain);
        await using var _ = provider;
        await harness.Bus.Publish(new RetrainArchitecture
        {
            ExperimentId = "genotype-1",
            Spec = ExperimentSpecs.Resolve(Specs.Smoke),
            Genotype = genotype,
        });

        Assert.True(await harness.Published.Any<Fault<RetrainArchitecture>>());
        var failed = Rejection(Assert.Single(harness.Published.Select<Fault<RetrainArchitecture>>()).Context.Message);
        Assert.Contains(reason, failed);
        Assert.Single(harness.Consumed.Select<RetrainArchitecture>());
    }

    [Fact]
    public async Task A_transient_fault_is_retried_with_backoff_and_reported_each_time_before_the_final_fault()
    {
        var (provider, harness) = await Start(PipelineStages.Shrink);
        await using var _ = provider;
        // The stage folder's place is taken by a file: creating the folder fails with an IOException every time.
        Directory.CreateDirectory(Path.Combine(_artifacts.Path, "io-1"));
        File.WriteAllText(Path.Combine(_artifacts.Path, "io-1", "shrink"), "not a folder");
        await harness.Bus.Publish(Shrink("io-1"));

        Assert.True(await harness.Published.Any<Fault<ShrinkSearchSpace>>());
        var failures = harness.Published.Select<StageFailed>().Select(x => x.Context.Message).ToArray();
        Assert.Equal(new PipelineOptions().Retries + 1, failures.Length);
        Assert.All(failures, f => Assert.Equal(PipelineStages.Shrink, f.Stage));
        // Spent retries fault with the fault's own type: the coordinator may retry the stage, it was no rejection.
        var fault = Assert.Single(harness.Published.Select<Fault<ShrinkSearchSpace>>()).Context.Message;
        Assert.NotEqual(typeof(StageRejectedException).FullName, fault.Exceptions[0].ExceptionType);
    }

    /// <summary>
    /// The message of a Fault that names a rejected input, as the coordinator's fault consumer tells it.
    /// </summary>
    private static string Rejection<T>(Fault<T> fault)
    {
        var exception = Assert.Single(fault.Exceptions);
        Assert.Equal(typeof(StageRejectedException).FullName, exception.ExceptionType);
        return exception.Message;
    }

    public void Dispose() => _artifacts.Dispose();
}

public sealed class ArtifactStoreTests
{
    [Theory]
    [InlineData("../secret.txt")]
    [InlineData("a/../../secret.txt")]
    [InlineData("/etc/passwd")]
    public void Paths_that_leave_an_experiment_are_refused(string path)
    {
        using var root = new TempFolder();
        var store = new ArtifactStore(root.Path);
        var e = Assert.Throws<UnauthorizedAccessException>(() => store.ResolveInExperiment("exp-1", path));
        Assert.Contains(path, e.Message);
        Assert.Equal(
            Path.Combine(root.Path, "exp-1", "stage1", "result.json"),
            store.ResolveInExperiment("exp-1", "stage1/../stage1/result.json"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    public void Experiment_ids_that_are_not_plain_names_are_refused(string id)
    {
        using var root = new TempFolder();
        Assert.Throws<ArgumentException>(() => new ArtifactStore(root.Path).ExperimentFolder(id));
    }
}

public sealed class PipelineOptionsTests
{
    [Theory]
    [InlineData(null, "127.0.0.1")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("localhost", "127.0.0.1")]
    public void The_silo_advertises_loopback_unless_given_an_address_or_a_host_name(string? setting, string expected) =>
        Assert.Equal(
            System.Net.IPAddress.Parse(expected),
            new PipelineOptions { SiloAddress = setting }.AdvertisedSiloAddress());

    [Fact]
    public void An_unresolvable_silo_address_is_an_error_naming_the_setting()
    {
        var error = Assert.Throws<InvalidOperationException>(
            () => new PipelineOptions { SiloAddress = "no-such-host.invalid" }.AdvertisedSiloAddress());
        Assert.Contains("HourNas:SiloAddress 'no-such-host.invalid'", error.Message);
    }
}

public sealed class ServiceAddressTests
{
    /// <summary>
    /// A service listens on its own default address unless whoever started it named one (here as --urls).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_service_takes_its_default_address_only_when_none_is_given(bool given)
    {
        using var folder = new TempFolder();
        var ports = LoopbackPorts.PickFree(2);
        var (fallback, named) = ($"http://127.0.0.1:{ports[0]}", $"http://127.0.0.1:{ports[1]}");
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(given ? ["--urls", named] : []);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HourNas:DefaultUrls"] = fallback,
            ["HourNas:Artifacts"] = folder.Path,
        });
        builder.AddServiceDefaults();
        await using var app = builder.Build();
        await app.StartAsync();
        Assert.Equal(given ? named : fallback, Assert.Single(app.Urls));
        await app.StopAsync();
    }
}

public sealed class LoopbackPortsTests
{
    [Theory]
    [InlineData("32768\t60999\n", 32768)]
    [InlineData("1024 65000", 1024)]
    [InlineData("", null)]
    [InlineData("32768", null)]
    [InlineData("a b", null)]
    public void The_ephemeral_range_start_is_read_from_the_kernel_setting(string text, int? expected) =>
        Assert.Equal(expected, LoopbackPorts.ParseEphemeralStart(text));

    [Fact]
    public void Picked_ports_are_distinct_free_and_below_the_ephemeral_range()
    {
        var ports = LoopbackPorts.PickFree(20);
        Assert.Equal(20, ports.Distinct().Count());
        Assert.All(ports, p => Assert.InRange(p, LoopbackPorts.RangeStart, LoopbackPorts.EphemeralStart() - 1));
        foreach (var port in ports)
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            listener.Start();  // throws if the port was not free
            listener.Stop();
        }
    }

    [Theory]
    [InlineData(20000)]  // room below: picked there
    [InlineData(10500)]  // no room below: the system's own picks
    public void Picked_ports_respect_where_the_ephemeral_range_starts(int ephemeralStart)
    {
        var ports = LoopbackPorts.PickFree(10, ephemeralStart);
        Assert.Equal(10, ports.Distinct().Count());
        if (ephemeralStart == 20000) Assert.All(ports, p => Assert.InRange(p, LoopbackPorts.RangeStart, 19999));
        else
            Assert.All(ports, p =>
                Assert.True(p >= LoopbackPorts.EphemeralStart(), $"{p} is not one the system handed out"));
    }

    [Fact]
    public void A_port_in_use_is_never_picked()
    {
        // Hold 500 ports of the range, then pick 1000: none may land on a held one.
        var held = LoopbackPorts.PickFree(500)
            .Select(p => new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, p))
            .ToList();
        held.ForEach(l => l.Start());
        try
        {
            var taken = held.Select(l => ((System.Net.IPEndPoint)l.LocalEndpoint).Port).ToHashSet();
            Assert.DoesNotContain(LoopbackPorts.PickFree(1000), taken.Contains);  // unchecked, about 22 would hit
        }
        finally
        {
            held.ForEach(l => l.Stop());
        }
    }
}
