using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HourNas.ServiceDefaults;

/// <summary>
/// API keys (<see cref="PipelineOptions.ApiKeys"/>): with keys configured every request but the health probes needs
/// one (<c>Authorization: Bearer KEY</c>, <c>X-Api-Key: KEY</c>, or the cookie a browser gets from
/// <c>/ui?key=KEY</c>). Without keys the API answers loopback connections only, and a coordinator told to listen on
/// another address refuses to start. Every host applies them (<see cref="Extensions.MapDefaultEndpoints"/>): the
/// coordinator's API and pages, and every service's <c>/metrics</c>.
/// </summary>
public static class ApiKeys
{
    public const string Header = "X-Api-Key";
    public const string Cookie = "hournas-key";
    public const string Query = "key";

    /// <summary>Adds the check once, however many of a host's endpoint groups ask for it.</summary>
    public static WebApplication UseApiKeys(this WebApplication app)
    {
        if (!((IApplicationBuilder)app).Properties.TryAdd(typeof(ApiKeys).FullName!, true)) return app;
        var keys = (app.Services.GetRequiredService<IOptions<PipelineOptions>>().Value.ApiKeys ?? [])
            .Where(k => !string.IsNullOrWhiteSpace(k)).Select(k => Encoding.UTF8.GetBytes(k)).ToArray();
        if (keys.Length == 0
            && ConfiguredUrls(app).Where(u => !IsLoopbackAddress(u)).ToArray() is { Length: > 0 } exposed)
            throw new InvalidOperationException(
                $"the API would listen on {string.Join(", ", exposed)} without API keys: set HourNas:ApiKeys " +
                "(HourNas__ApiKeys__0=...), or listen on loopback only");
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/alive"))
            {
                await next(http);
                return;
            }
            if (keys.Length == 0)
            {
                if (http.Connection.RemoteIpAddress is { } remote
                    && !IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
                {
                    await Refuse(http, StatusCodes.Status403Forbidden,
                        "this coordinator has no API keys (HourNas:ApiKeys) and answers loopback connections only");
                    return;
                }
                await next(http);
                return;
            }
            if (http.Request.Query[Query] is [{ } fromQuery] && Matches(keys, fromQuery))
            {
                // A browser logs in once; the key then travels in a cookie scripts cannot read, not in links.
                http.Response.Cookies.Append(Cookie, fromQuery, new CookieOptions
                {
                    HttpOnly = true,
                    SameSite = SameSiteMode.Strict,
                    Secure = http.Request.IsHttps,
                    Path = "/",
                });
                http.Response.Redirect(http.Request.PathBase + http.Request.Path);
                return;
            }
            if (Presented(http) is { } key && Matches(keys, key))
            {
                await next(http);
                return;
            }
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await Refuse(http, StatusCodes.Status401Unauthorized,
                $"an API key is required: send 'Authorization: Bearer KEY' or '{Header}: KEY' " +
                "(browsers: open /ui?key=KEY)");
        });
        return app;
    }

    private static string? Presented(HttpContext http)
    {
        var authorization = http.Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return authorization[7..].Trim();
        if (http.Request.Headers[Header] is [{ } header]) return header;
        return http.Request.Cookies[Cookie];
    }

    private static bool Matches(byte[][] keys, string presented)
    {
        var bytes = Encoding.UTF8.GetBytes(presented);
        var match = false;
        // Every key compared in constant time, so the answer's timing says nothing about any key.
        foreach (var key in keys) match |= CryptographicOperations.FixedTimeEquals(key, bytes);
        return match;
    }

    private static Task Refuse(HttpContext http, int status, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status).ExecuteAsync(http);

    /// <summary>
    /// The addresses the host was told to listen on: urls (ASPNETCORE_URLS, --urls, UseUrls) and Kestrel endpoints.
    /// </summary>
    private static IEnumerable<string> ConfiguredUrls(WebApplication app) =>
        (app.Configuration["urls"] ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Concat(app.Urls)
            .Concat(app.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"])
                .OfType<string>());

    private static bool IsLoopbackAddress(string address)
    {
        var wildcardsAsAny = address.Replace("://+", "://0.0.0.0").Replace("://*", "://0.0.0.0");
        if (!Uri.TryCreate(wildcardsAsAny, UriKind.Absolute, out var uri))
            return false;
        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}
