using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace HourNas.Coordination;

/// <summary>
/// Redis answers a PING within two seconds: the coordinator's experiment state lives there, so without it nothing
/// can be submitted or advanced. One connection, made on first use and reconnecting by itself.
/// </summary>
public sealed class RedisHealthCheck(string connectionString) : IHealthCheck, IDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection = new(() =>
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        return ConnectionMultiplexer.ConnectAsync(options);
    });

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
        CancellationToken cancellationToken = default)
    {
        // The endpoints, never the connection string: it holds the password.
        var where = string.Join(", ", ConfigurationOptions.Parse(connectionString).EndPoints);
        try
        {
            var redis = await _connection.Value.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy($"Redis at {where} answered in {latency.TotalMilliseconds:F0} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"Redis at {where} does not answer: {e.Message}");
        }
    }

    public void Dispose()
    {
        if (_connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully) _connection.Value.Result.Dispose();
    }
}
