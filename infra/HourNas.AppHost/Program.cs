using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

// Distributed mode on one machine: RabbitMQ and Redis as executables (Debian packages, private loopback ports and
// folders under .local/apphost), the coordinator and the four stage services (two Retraining replicas competing for
// one queue), all sending traces, logs and metrics to the AppHost's dashboard.
var builder = DistributedApplication.CreateBuilder(args);
var repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".."));
var state = builder.Configuration["HourNas:State"] ?? Path.Combine(repository, ".local", "apphost");
var amqpPort = int.Parse(builder.Configuration["HourNas:RabbitMqPort"] ?? "25672");
var redisPort = int.Parse(builder.Configuration["HourNas:RedisPort"] ?? "26379");
var coordinatorPort = int.Parse(builder.Configuration["HourNas:CoordinatorPort"] ?? "5080");
Directory.CreateDirectory(state);
// The broker's user and Redis's password, made once per state folder by infra/local.sh before either starts.
var secrets = LocalSecrets(repository, state);

builder.Services.AddHealthChecks()
    .AddCheck("rabbitmq-port", () => PortOpen(amqpPort))
    .AddCheck("redis-port", () => PortOpen(redisPort));

var rabbitmq = builder.AddExecutable("rabbitmq", "bash", repository, "infra/local.sh", "rabbitmq-foreground", state)
    .WithEnvironment("HOURNAS_RABBITMQ_PORT", amqpPort.ToString())
    .WithHealthCheck("rabbitmq-port");
var redis = builder.AddExecutable("redis", "bash", repository, "infra/local.sh", "redis-foreground", state)
    .WithEnvironment("HOURNAS_REDIS_PORT", redisPort.ToString())
    .WithHealthCheck("redis-port");

var artifacts = Path.Combine(state, "artifacts");
// HourNas:Numerics=portable holds every service's libtorch to its AVX2 code paths (docs/engine.md).
var numerics = builder.Configuration["HourNas:Numerics"] ?? "native";
if (numerics is not ("native" or "portable"))
    throw new InvalidOperationException($"HourNas:Numerics must be 'native' or 'portable', got '{numerics}'");
var amqpUri = $"amqp://hournas:{secrets["rabbitmq_password"]}@127.0.0.1:{amqpPort}/";
var redisEndpoint = $"127.0.0.1:{redisPort},password={secrets["redis_password"]}";
IResourceBuilder<ProjectResource> Service<TProject>(string name) where TProject : IProjectMetadata, new() =>
    builder.AddProject<TProject>(name)
        .WithEnvironment("HourNas__Transport", "RabbitMQ")
        .WithEnvironment("HourNas__Artifacts", artifacts)
        .WithEnvironment("ConnectionStrings__rabbitmq", amqpUri)
        .WithEnvironment("HOURNAS_THREADS", "1")
        .WithEnvironment("HOURNAS_NUMERICS", numerics)
        .WaitFor(rabbitmq);

Service<Projects.HourNas_Coordinator>("coordinator")
    .WithEnvironment("HourNas__Clustering", "Redis")
    .WithEnvironment("ConnectionStrings__redis", redisEndpoint)
    // 0: free silo and gateway ports, picked at start: one coordinator per machine needs no fixed ones.
    .WithEnvironment("HourNas__SiloPort", "0")
    .WithEnvironment("HourNas__GatewayPort", "0")
    // 0: Aspire picks a free port below the ephemeral range (tests; several AppHosts on one machine).
    .WithHttpEndpoint(port: coordinatorPort == 0 ? null : coordinatorPort, targetPort: null, name: "http",
        isProxied: false)
    .WithHttpHealthCheck("/health")
    .WaitFor(redis);
foreach (var (name, replicas) in new[]
    {
        ("vital-blocks", 1), ("space-shrinking", 1), ("supernet-training", 1), ("retraining", 2),
    })
{
    var worker = name switch
    {
        "vital-blocks" => Service<Projects.HourNas_VitalBlocks>(name),
        "space-shrinking" => Service<Projects.HourNas_SpaceShrinking>(name),
        "supernet-training" => Service<Projects.HourNas_SupernetTraining>(name),
        _ => Service<Projects.HourNas_Retraining>(name),
    };
    // Workers answer health checks on a free port each (several replicas share a machine).
    worker.WithEnvironment("Urls", "http://127.0.0.1:0").WithReplicas(replicas);
}

builder.Build().Run();

static Dictionary<string, string> LocalSecrets(string repository, string state)
{
    using var script = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash")
    {
        ArgumentList = { Path.Combine(repository, "infra", "local.sh"), "secrets", state },
        RedirectStandardOutput = true,
    }) ?? throw new InvalidOperationException("cannot run infra/local.sh");
    var text = script.StandardOutput.ReadToEnd();
    script.WaitForExit();
    if (script.ExitCode != 0) throw new InvalidOperationException($"infra/local.sh secrets failed ({script.ExitCode})");
    return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
        .ToDictionary(p => p[0], p => p[1]);
}

static HealthCheckResult PortOpen(int port)
{
    try
    {
        using var client = new TcpClient();
        client.Connect("127.0.0.1", port);
        return HealthCheckResult.Healthy();
    }
    catch (SocketException e)
    {
        return HealthCheckResult.Unhealthy($"127.0.0.1:{port} refuses connections: {e.Message}");
    }
}
