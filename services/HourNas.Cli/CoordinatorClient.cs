using System.Net;
using System.Net.Http.Json;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Experiments;

namespace HourNas.Cli;

/// <summary>
/// The coordinator's HTTP API as the CLI uses it. Error answers become exceptions carrying the API's message.
/// </summary>
internal sealed class CoordinatorClient(Uri address) : IDisposable
{
    public const string EnvironmentVariable = "HOURNAS_COORDINATOR";
    public const string DefaultAddress = "http://127.0.0.1:5080";

    /// <summary>
    /// The API key the CLI sends (a coordinator off loopback requires one); from the environment, not argv.
    /// </summary>
    public const string ApiKeyVariable = "HOURNAS_API_KEY";

    private readonly HttpClient _http = Create(address);

    private static HttpClient Create(Uri address)
    {
        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key)
            http.DefaultRequestHeaders.Authorization =
                new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    public Uri Address => address;

    public async Task<ExperimentState> Submit(string? id, ExperimentSpec spec) =>
        await Read<ExperimentState>(await Send(() =>
            _http.PostAsJsonAsync("experiments", new SubmitExperiment(id, spec), PipelineJson.Options)));

    public async Task<ExperimentState> Get(string id) =>
        await Read<ExperimentState>(await Send(() => _http.GetAsync($"experiments/{Uri.EscapeDataString(id)}")));

    public async Task<IReadOnlyList<ExperimentSummary>> List() =>
        await Read<ExperimentSummary[]>(await Send(() => _http.GetAsync("experiments")));

    public async Task<ExperimentState> Cancel(string id) =>
        await Read<ExperimentState>(await Send(() =>
            _http.PostAsync($"experiments/{Uri.EscapeDataString(id)}/cancel", null)));

    public async Task<IReadOnlyList<string>> Artifacts(string id) =>
        await Read<string[]>(await Send(() => _http.GetAsync($"experiments/{Uri.EscapeDataString(id)}/artifacts")));

    /// <summary>
    /// Downloads one artifact (a path relative to the artifact root, as <see cref="Artifacts"/> lists them) to a
    /// file.
    /// </summary>
    public async Task Download(string id, string relativePath, string file)
    {
        var prefix = id + "/";
        var path = relativePath.StartsWith(prefix, StringComparison.Ordinal)
            ? relativePath[prefix.Length..]
            : relativePath;
        using var response = await Send(() => _http.GetAsync(
            $"experiments/{Uri.EscapeDataString(id)}/artifacts/{path}", HttpCompletionOption.ResponseHeadersRead));
        await Check(response);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        await using var output = File.Create(file);
        await response.Content.CopyToAsync(output);
    }

    public void Dispose() => _http.Dispose();

    private async Task<HttpResponseMessage> Send(Func<Task<HttpResponseMessage>> request)
    {
        try
        {
            return await request();
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException(
                $"cannot reach the coordinator at {address} ({e.Message}): start it, or point --coordinator or " +
                $"{EnvironmentVariable} at it");
        }
    }

    private static async Task<T> Read<T>(HttpResponseMessage response)
    {
        using (response)
        {
            await Check(response);
            return await response.Content.ReadFromJsonAsync<T>(PipelineJson.Options)
                ?? throw new InvalidDataException("the coordinator sent an empty answer");
        }
    }

    private static async Task Check(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode) return;
        string message;
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<Microsoft.AspNetCore.Mvc.ProblemDetails>(
                PipelineJson.Options);
            message = problem?.Detail ?? problem?.Title ?? response.ReasonPhrase ?? "";
        }
        catch (System.Text.Json.JsonException)
        {
            message = response.ReasonPhrase ?? "";
        }
        throw response.StatusCode switch
        {
            HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.Conflict or HttpStatusCode.Forbidden
                or HttpStatusCode.Unauthorized or HttpStatusCode.RequestEntityTooLarge =>
                    new ArgumentException(message),
            _ => new InvalidOperationException($"the coordinator answered {(int)response.StatusCode}: {message}"),
        };
    }
}
