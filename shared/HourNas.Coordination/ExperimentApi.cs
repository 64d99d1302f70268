using System.Text.Json;
using System.Text.Json.Serialization;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace HourNas.Coordination;

/// <summary>
/// A submission: the id is the client's (which makes retries idempotent) or made up from the preset and the time.
/// </summary>
public sealed record SubmitExperiment(string? Id, ExperimentSpec Spec);

/// <summary>
/// JSON as the API writes it and the CLI reads it: camelCase, enums as names, NaN allowed (a loss before the first
/// step).
/// </summary>
public static class PipelineJson
{
    public static readonly JsonSerializerOptions Options =
        Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }
}

/// <summary>
/// The coordinator's HTTP API, for MLOps platforms and the <c>hournas submit|status|watch|list|cancel|export</c>
/// commands. Errors are RFC 9457 problem details naming the problem.
/// </summary>
public static class ExperimentApi
{
    /// <summary>The largest submission body read; a spec with an inline skeleton fits many times over.</summary>
    public const int MaxRequestBytes = 256 * 1024;

    /// <summary>Request bodies: like the answers, but a field the API does not know is an error, not ignored.</summary>
    private static readonly JsonSerializerOptions StrictJson = new(PipelineJson.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static IServiceCollection AddExperimentApi(this IServiceCollection services)
    {
        services.TryAddSingleton<ExperimentService>();
        services.AddHostedService<CoordinatorMetrics>();
        services.AddExperimentApiDescription();
        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(o => PipelineJson.Configure(o.SerializerOptions));
        return services;
    }

    public static IEndpointRouteBuilder MapExperimentApi(this WebApplication app)
    {
        app.UseApiKeys();
        var api = app.MapGroup("/experiments").WithTags("experiments")
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
        api.MapPost("/", Submit).WithName("SubmitExperiment")
            .WithSummary("Submit an experiment")
            .WithDescription("Starts the pipeline for a spec. The same id and spec again returns the same " +
                "experiment (a client can retry); a different spec under a used id is a 409.")
            .Accepts<SubmitExperiment>("application/json")
            .Produces<ExperimentState>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/", async (ExperimentService experiments) => TypedResults.Ok(await experiments.List()))
            .WithName("ListExperiments").WithSummary("Every experiment, newest first");
        api.MapGet("/{id}", (string id, ExperimentService experiments) => Answer(async () =>
                await experiments.Get(id) is { } state ? TypedResults.Ok(state) : NotFound(id)))
            .WithName("GetExperiment")
            .WithSummary("One experiment: status, stages, progress, result")
            .Produces<ExperimentState>().ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapPost("/{id}/cancel", (string id, ExperimentService experiments) => Answer(async () =>
                await experiments.Get(id) is null ? NotFound(id) : TypedResults.Ok(await experiments.Cancel(id, null))))
            .WithName("CancelExperiment").WithSummary("Cancel an experiment that has not ended")
            .Produces<ExperimentState>().ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/{id}/artifacts", (string id, ExperimentService experiments, ArtifactStore store) =>
                Answer(async () => await experiments.Get(id) is null ? NotFound(id) : TypedResults.Ok(store.List(id))))
            .WithName("ListArtifacts")
            .WithSummary("Every file of the experiment")
            .WithDescription("Paths relative to the artifact root, '<id>/model.onnx'; GetArtifact takes the part " +
                "after '<id>/'.")
            .Produces<IReadOnlyList<string>>().ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/{id}/artifacts/{**path}",
            (string id, string path, ExperimentService experiments, ArtifactStore store) => Answer(async () =>
            {
                if (await experiments.Get(id) is null) return NotFound(id);
                // Generated clients send a nested path as one escaped segment (stage1%2Fresult.json), which routing
                // leaves escaped; the store confines whatever it becomes.
                var file = store.ResolveInExperiment(id, Uri.UnescapeDataString(path));
                return File.Exists(file)
                    ? TypedResults.PhysicalFile(file, "application/octet-stream", Path.GetFileName(file))
                    : Problem(StatusCodes.Status404NotFound,
                        $"experiment '{id}' has no artifact '{ExperimentSpecs.Shown(path, 256)}'");
            }))
            .WithName("GetArtifact").WithSummary("One file of the experiment")
            .WithDescription("The path is relative to the experiment's folder ('model.onnx', 'stage1/result.json'); " +
                "it may not lead out of it (403).")
            .Produces(StatusCodes.Status200OK, typeof(byte[]), "application/octet-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);
        // Messages nothing will process, per error queue (RabbitMQ; none on the in-memory transport).
        app.MapGet("/queues/errors", async (ErrorQueues queues, CancellationToken cancellation) =>
                TypedResults.Ok(await queues.Count(cancellation)))
            .WithName("CountErrorQueues").WithTags("operations")
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden)
            .WithSummary("Messages in each of the pipeline's error queues (RabbitMQ only)");
        app.MapExperimentApiDescription();
        app.MapExperimentPages();
        return app;
    }

    /// <summary>
    /// POST /experiments: the body is read here, bounded, so malformed JSON, an unknown field and a spec that names
    /// no preset are each a 400 saying so (model binding would answer an empty 400, or start a default run).
    /// </summary>
    private static async Task<IResult> Submit(HttpRequest http, ExperimentService experiments)
    {
        if (http.ContentLength > MaxRequestBytes) return TooLarge();
        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await http.Body.ReadAsync(buffer, http.HttpContext.RequestAborted)) > 0)
        {
            if (body.Length + read > MaxRequestBytes) return TooLarge();
            body.Write(buffer, 0, read);
        }
        SubmitExperiment? request;
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return Problem(StatusCodes.Status400BadRequest,
                    "the request must be a JSON object {\"id\": ..., \"spec\": {...}}");
            // Names as the deserializer matches them: case-insensitively.
            static bool Is(JsonProperty p, string name) =>
                string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase);
            var spec = document.RootElement.EnumerateObject().FirstOrDefault(p => Is(p, "spec")).Value;
            if (spec.ValueKind != JsonValueKind.Object)
                return Problem(StatusCodes.Status400BadRequest, "the request has no spec");
            if (!spec.EnumerateObject().Any(p => Is(p, "preset") || Is(p, "skeleton")))
                return Problem(StatusCodes.Status400BadRequest,
                    "the spec names no preset: give \"preset\" (a name from `hournas presets`) " +
                    "or an inline \"skeleton\"");
            request = document.Deserialize<SubmitExperiment>(StrictJson);
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest,
                $"the request is not valid JSON for a submission: {e.Message}");
        }
        if (request?.Spec is null) return Problem(StatusCodes.Status400BadRequest, "the request has no spec");
        return await Answer(async () =>
        {
            var state = await experiments.Submit(request.Id, request.Spec);
            return TypedResults.Created($"/experiments/{state.Id}", state);
        });
    }

    private static IResult TooLarge() =>
        Problem(StatusCodes.Status413PayloadTooLarge, $"the request is larger than {MaxRequestBytes:N0} bytes");

    private static IResult NotFound(string id) => Problem(StatusCodes.Status404NotFound, $"no experiment '{id}'");

    public static IResult Problem(int status, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status);

    /// <summary>
    /// Bad input is a 400 naming the problem, a contradiction a 409, an escape from the artifact root a 403, the
    /// experiment store out of reach a 503 with Retry-After.
    /// </summary>
    private static async Task<IResult> Answer(Func<Task<IResult>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is SearchSpaceException or ArgumentException)
        {
            return Problem(StatusCodes.Status400BadRequest, e.Message);
        }
        catch (ExperimentConflictException e)
        {
            return Problem(StatusCodes.Status409Conflict, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            return Problem(StatusCodes.Status403Forbidden, e.Message);
        }
        catch (Exception e) when (IsStorageOutage(e))
        {
            // The experiment state cannot be read or written: the client should come back, not report a bug.
            return new RetryLater(Problem(StatusCodes.Status503ServiceUnavailable,
                $"the experiment store is unavailable ({e.GetBaseException().Message}); try again shortly"));
        }
    }

    /// <summary>Seconds a client waits after a 503 before it tries again.</summary>
    public const int RetryAfterSeconds = 10;

    /// <summary>Redis (the grain storage) or the silo not answering, wherever Orleans wraps it.</summary>
    public static bool IsStorageOutage(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            // Orleans keeps its RedisStorageException internal: matched by name.
            if (x is StackExchange.Redis.RedisException or TimeoutException or SiloUnavailableException
                or OrleansMessageRejectionException || x.GetType().Name == "RedisStorageException")
                return true;
        return false;
    }

    /// <summary>A problem answer with a Retry-After header.</summary>
    private sealed class RetryLater(IResult problem) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.RetryAfter =
                RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return problem.ExecuteAsync(http);
        }
    }
}
