using System.Text.Json.Nodes;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace HourNas.Coordination;

/// <summary>
/// The API's machine-readable description: an OpenAPI document at <c>/openapi/v1.json</c> (generated from the
/// endpoints' metadata by Microsoft.AspNetCore.OpenApi, with the API keys as security schemes and example
/// requests), and a browsable reference at <c>/scalar</c> whose script the coordinator serves itself: no fonts
/// from a CDN, no telemetry, none of the hosted services the page can link to.
/// </summary>
public static class ExperimentApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string ReferencePath = "/scalar";

    /// <summary>A submission that runs the smoke preset in about 20 s: what a reader can try first.</summary>
    public static readonly JsonNode SubmissionExample = JsonNode.Parse("""
        {"id": "smoke-1", "spec": {"preset": "smoke", "budgetMFlops": 0.3, "seed": 1}}
        """)!;

    public static IServiceCollection AddExperimentApiDescription(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "HourNas coordinator",
                    Version = "v1",
                    Description =
                        "Submit HourNAS experiments, follow them stage by stage, cancel them and download their " +
                        "artifacts (genotype, model card, ONNX model, weights, CSVs, plots). Errors are RFC 9457 " +
                        "problem details. Off loopback every request needs an API key.",
                };
                // The document is served at whatever address a client used; a base URL ends without a slash.
                foreach (var server in document.Servers ?? []) server.Url = server.Url?.TrimEnd('/');
                document.Tags = new HashSet<OpenApiTag>
                {
                    new() { Name = "experiments", Description = "submit, follow, cancel, download" },
                    new() { Name = "operations", Description = "the pipeline's plumbing, for operators" },
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
                {
                    ["bearer"] = new OpenApiSecurityScheme
                    {
                        Type = SecuritySchemeType.Http,
                        Scheme = "bearer",
                        Description = "an API key from HourNas:ApiKeys as a bearer token",
                    },
                    ["apiKey"] = new OpenApiSecurityScheme
                    {
                        Type = SecuritySchemeType.ApiKey,
                        In = ParameterLocation.Header,
                        Name = ApiKeys.Header,
                        Description = "the same key in a header",
                    },
                };
                document.Security =
                [
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] },
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("apiKey", document)] = [] },
                ];
                return Task.CompletedTask;
            });
            // A double that may be NaN (a loss before the first step) is "a number or one of the named literals";
            // the generator also marks it "type: object", which no number satisfies.
            options.AddSchemaTransformer((schema, _, _) =>
            {
                if (schema.AnyOf is { Count: > 0 } any && schema.Type == JsonSchemaType.Object
                    && any.Any(a => a.Type == JsonSchemaType.Number))
                    schema.Type = null;
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                if (operation.OperationId == "SubmitExperiment"
                    && operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true)
                    body.Example = SubmissionExample.DeepClone();
                return Task.CompletedTask;
            });
        });

    /// <summary>Maps the document and the reference page (both behind the API keys, like the API).</summary>
    public static WebApplication MapExperimentApiDescription(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath);
        app.MapScalarApiReference(ReferencePath, options => options
            .WithTitle("HourNas coordinator API")
            .WithOpenApiRoutePattern(DocumentPath)
            .DisableDefaultFonts()
            .DisableTelemetry()
            // The page's links to Scalar's hosted services (AI agent, MCP, SDK generation, developer tools).
            .DisableAgent()
            .DisableMcp()
            .HideDeveloperTools());
        return app;
    }
}
