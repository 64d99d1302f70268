using System.Text.Json;
using System.Text.Json.Serialization;
using HourNas.Contracts;
using HourNas.Experiments;
using HourNas.SearchSpace;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace HourNas.Components.Coordinator;

/// <summary>A submission: the id is the client's (which makes retries idempotent) or made up from the preset and the time.</summary>
public sealed record SubmitExperiment(string? Id, ExperimentSpec Spec);

/// <summary>An error answer: what was wrong, in words.</summary>
public sealed record ApiError(string Error);

/// <summary>JSON as the API writes it and the CLI reads it: camelCase, enums as names, NaN allowed (a loss before the first step).</summary>
public static class PipelineJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }
}

/// <summary>The coordinator's HTTP API, for MLOps platforms and the <c>hournas submit|status|watch|list|cancel|export</c> commands.</summary>
public static class ExperimentApi
{
    public static IServiceCollection AddExperimentApi(this IServiceCollection services)
    {
        services.TryAddSingleton<ExperimentService>();
        services.ConfigureHttpJsonOptions(o => PipelineJson.Configure(o.SerializerOptions));
        return services;
    }

    public static IEndpointRouteBuilder MapExperimentApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/experiments");
        api.MapPost("/", async (SubmitExperiment request, ExperimentService experiments) =>
        {
            if (request.Spec is null) return Results.BadRequest(new ApiError("the request has no spec"));
            return await Answer(async () =>
            {
                var state = await experiments.Submit(request.Id, request.Spec);
                return Results.Created($"/experiments/{state.Id}", state);
            });
        });
        api.MapGet("/", async (ExperimentService experiments) => Results.Ok(await experiments.List()));
        api.MapGet("/{id}", (string id, ExperimentService experiments) => Answer(async () =>
            await experiments.Get(id) is { } state ? Results.Ok(state) : NotFound(id)));
        api.MapPost("/{id}/cancel", (string id, ExperimentService experiments) => Answer(async () =>
            await experiments.Get(id) is null ? NotFound(id) : Results.Ok(await experiments.Cancel(id, null))));
        api.MapGet("/{id}/artifacts", (string id, ExperimentService experiments, ArtifactStore store) => Answer(async () =>
            await experiments.Get(id) is null ? NotFound(id) : Results.Ok(store.List(id))));
        api.MapGet("/{id}/artifacts/{**path}", (string id, string path, ExperimentService experiments, ArtifactStore store) => Answer(async () =>
        {
            if (await experiments.Get(id) is null) return NotFound(id);
            var file = store.ResolveInExperiment(id, path);
            return File.Exists(file) ? Results.File(file, "application/octet-stream", Path.GetFileName(file))
                : Results.NotFound(new ApiError($"experiment '{id}' has no artifact '{path}'"));
        }));
        app.MapExperimentPages();
        return app;
    }

    private static IResult NotFound(string id) => Results.NotFound(new ApiError($"no experiment '{id}'"));

    /// <summary>Bad input is a 400 naming the problem, a contradiction a 409, an escape from the artifact root a 403.</summary>
    private static async Task<IResult> Answer(Func<Task<IResult>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is SearchSpaceException or ArgumentException)
        {
            return Results.BadRequest(new ApiError(e.Message));
        }
        catch (ExperimentConflictException e)
        {
            return Results.Conflict(new ApiError(e.Message));
        }
        catch (UnauthorizedAccessException e)
        {
            return Results.Json(new ApiError(e.Message), statusCode: StatusCodes.Status403Forbidden);
        }
    }
}
