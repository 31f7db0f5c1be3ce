using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Moat.Control.Api;

/// <summary>
/// Errors as RFC 9457 problem documents with a fixed shape (title, status, detail; no trace id), so that two answers
/// for the same outcome are the same bytes: a sandbox that is not the caller's is answered exactly like a missing one.
/// </summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";

    public static async Task WriteAsync(HttpContext context, int status, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        context.Items[AuditMiddleware.OutcomeKey] = detail;
        await context.Response.WriteAsync(Body(status, detail), context.RequestAborted).ConfigureAwait(false);
    }

    public static string Body(int status, string detail) =>
        JsonSerializer.Serialize(new ProblemBody(Title(status), status, detail), ControlJson.Options);

    private static string Title(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };

    /// <summary>An error answer.</summary>
    public sealed record ProblemBody(string Title, int Status, string Detail);
}

/// <summary>JSON as the API reads and writes it: camelCase, enums as strings, unknown fields refused.</summary>
public static class ControlJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
        o.MaxDepth = 16;
        o.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        o.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        return o;
    }
}
