using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using HourNas.ApiClient;
using HourNas.Coordination;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Client = HourNas.ApiClient.Models;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// The coordinator's OpenAPI document: valid for two validators we did not write (Microsoft.OpenApi's reader and
/// rules; Redocly's CLI with its recommended rules), the same as the committed docs/openapi.json from which the
/// Kiota client is generated, and good enough for that client to run an experiment end to end.
/// </summary>
public sealed class OpenApiTests(CoordinatorHost host) : IClassFixture<CoordinatorHost>
{
    private static readonly string Committed = Path.Combine(TestEnvironment.RepositoryRoot, "docs", "openapi.json");

    /// <summary>The address docs/openapi.json names: the coordinator's default.</summary>
    private const string DefaultServer = "http://127.0.0.1:5080";

    private async Task<string> Served()
    {
        var response = await host.Http.GetAsync(ExperimentApiDescription.DocumentPath.TrimStart('/'));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The document with its servers replaced by the default address, as it is committed.</summary>
    private static string AsCommitted(string served)
    {
        var document = JsonNode.Parse(served)!.AsObject();
        document["servers"] = new JsonArray(new JsonObject { ["url"] = DefaultServer });
        return document.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    [Fact]
    public async Task The_document_passes_Microsoft_OpenApi_reader_and_rules_and_describes_every_operation()
    {
        var read = OpenApiDocument.Parse(await Served(), "json");
        Assert.Empty(read.Diagnostic!.Errors);
        var document = read.Document!;
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, read.Diagnostic.SpecificationVersion);
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);

        var operations = document.Paths.SelectMany(p => p.Value.Operations!.Select(o => (p.Key, o.Key, o.Value)))
            .ToArray();
        Assert.Equal(
            ["CancelExperiment", "CountErrorQueues", "GetArtifact", "GetExperiment", "ListArtifacts",
                "ListExperiments", "SubmitExperiment"],
            operations.Select(o => o.Value.OperationId).Order());
        // The pages for people are not part of the API.
        Assert.DoesNotContain(document.Paths.Keys, p => p.StartsWith("/ui"));
        var submit = operations.Single(o => o.Value.OperationId == "SubmitExperiment").Value;
        var body = submit.RequestBody!.Content!["application/json"];
        Assert.Equal("SubmitExperiment", ((OpenApiSchemaReference)body.Schema!).Reference.Id);
        Assert.Equal("smoke", body.Example!["spec"]!["preset"]!.GetValue<string>());
        foreach (var status in new[] { "201", "400", "409", "413", "503" })
            Assert.Contains(status, submit.Responses!.Keys);
        // Every error is a problem-details body.
        Assert.All(operations.SelectMany(o => o.Value.Responses!.Where(r => r.Key.StartsWith('4'))), r =>
            Assert.Contains("application/problem+json", r.Value.Content!.Keys));
        Assert.Equal(["apiKey", "bearer"], document.Components!.SecuritySchemes!.Keys.Order());
    }

    [Fact]
    public async Task The_document_passes_redocly_lint_with_its_recommended_rules()
    {
        var folder = Path.Combine(TestEnvironment.RepositoryRoot, "tools", "redocly");
        var redocly = Path.Combine(folder, "node_modules", ".bin", "redocly");
        if (!File.Exists(redocly))
            throw new FileNotFoundException(
                $"{redocly} is not installed: ./test.sh installs it (npm ci --prefix tools/redocly)");
        using var file = new TempFolder();
        await File.WriteAllTextAsync(file["openapi.json"], await Served());
        var start = new ProcessStartInfo(redocly,
            ["lint", file["openapi.json"], "--config", Path.Combine(folder, "redocly.yaml"), "--format", "summary"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Redocly reports usage and checks for updates unless told not to: nothing here may call out.
            Environment = { ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true" },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(120_000), "redocly did not finish in 2 minutes");
        var text = await output + await error;
        Assert.True(process.ExitCode == 0, text);
        Assert.Contains("Your API description is valid", text);
        // The summary lists each rule with problems as "error rule: N" or "warning rule: N".
        Assert.DoesNotMatch(new System.Text.RegularExpressions.Regex(@"^(error|warning)\s+\S+: \d+",
            System.Text.RegularExpressions.RegexOptions.Multiline), text);
    }

    [Fact]
    public async Task The_committed_document_is_the_one_the_coordinator_serves()
    {
        var served = AsCommitted(await Served());
        // HOURNAS_WRITE_OPENAPI=1 rewrites the committed file after an API change (then rebuild: the client follows).
        if (Environment.GetEnvironmentVariable("HOURNAS_WRITE_OPENAPI") == "1")
            await File.WriteAllTextAsync(Committed, served);
        Assert.True(served == await File.ReadAllTextAsync(Committed),
            "docs/openapi.json differs from the document the coordinator serves: run HOURNAS_WRITE_OPENAPI=1 " +
            "dotnet test tests/HourNas.Pipeline.Tests --filter The_committed_document, then rebuild");
    }

    [Fact]
    public async Task A_client_generated_from_the_document_submits_watches_and_downloads_an_experiment()
    {
        var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider())
        {
            BaseUrl = host.Address,
        };
        var client = new HourNasClient(adapter);
        var submitted = await client.Experiments.PostAsync(new Client.SubmitExperiment
        {
            Id = "kiota-1",
            Spec = new Client.ExperimentSpec { Preset = "smoke" },
        });
        Assert.Equal("kiota-1", submitted!.Id);

        var clock = Stopwatch.StartNew();
        Client.ExperimentState? state;
        while (true)
        {
            state = await client.Experiments["kiota-1"].GetAsync();
            if (state!.Status is Client.ExperimentStatus.Completed or Client.ExperimentStatus.Failed
                or Client.ExperimentStatus.Cancelled) break;
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), $"still {state.Status} after 3 minutes");
            await Task.Delay(300);
        }
        Assert.Equal(Client.ExperimentStatus.Completed, state.Status);
        Assert.InRange(state.Result!.Top1!.Value, 0.2, 1.0);
        Assert.Contains(state.Stages!, s => s.Stage == "retrain" && s.Status == Client.StageStatus.Completed);

        // Listed relative to the artifact root, fetched relative to the experiment's folder.
        var artifacts = (await client.Experiments["kiota-1"].Artifacts.GetAsync())!
            .Select(a => a["kiota-1/".Length..]).ToArray();
        Assert.Contains("model.onnx", artifacts);
        Assert.Contains("model.json", artifacts);
        await using var onnx = await client.Experiments["kiota-1"].Artifacts["model.onnx"].GetAsync();
        using var copy = new MemoryStream();
        await onnx!.CopyToAsync(copy);
        Assert.Equal(
            new FileInfo(Path.Combine(host.Artifacts.Path, "kiota-1", "model.onnx")).Length, copy.Length);
        var nested = artifacts.First(a => a.EndsWith("/result.json", StringComparison.Ordinal));
        await using var file = await client.Experiments["kiota-1"].Artifacts[nested].GetAsync();
        Assert.StartsWith("{", await new StreamReader(file!).ReadToEndAsync());

        // An error comes back as the problem details the document promises.
        var missing = await Assert.ThrowsAsync<Client.ProblemDetails>(
            () => client.Experiments["no-such-experiment"].GetAsync());
        Assert.Equal(404, missing.Status);
        Assert.Contains("no experiment 'no-such-experiment'", missing.Detail);
    }
}
