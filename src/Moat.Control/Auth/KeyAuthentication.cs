using Microsoft.AspNetCore.Http;
using Moat.Control.Api;
using Moat.Control.Metrics;

namespace Moat.Control.Auth;

/// <summary>
/// Reads the key of a request under /v1/ (<c>Authorization: Bearer moat_…</c>) and, in a second step after the rate
/// limiter, answers 401 without a valid one and 403 for an administrator's endpoint with a client's key. Split in two
/// so that failed attempts are counted against the caller's address (key guessing is rate limited) and good ones
/// against their key.
/// </summary>
public static class KeyAuthentication
{
    private const string CallerKey = "moat.caller";

    public static bool IsApi(HttpContext context) => context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal);

    public static Caller? TryCallerOf(HttpContext context) => context.Items.TryGetValue(CallerKey, out var c) ? c as Caller : null;

    public static Caller CallerOf(HttpContext context) => TryCallerOf(context) ?? throw new InvalidOperationException("the request was not authenticated");

    /// <summary>First step: finds the caller, refusing nothing.</summary>
    public static async Task IdentifyAsync(HttpContext context, Func<Task> next, ControlService service, ControlMetrics metrics)
    {
        if (IsApi(context))
        {
            var (caller, reason) = await service.AuthenticateAsync(BearerOf(context.Request.Headers.Authorization), context.RequestAborted).ConfigureAwait(false);
            if (caller is not null)
            {
                context.Items[CallerKey] = caller;
            }
            else
            {
                metrics.AuthFailures.WithLabels(reason).Inc();
            }
        }

        await next().ConfigureAwait(false);
    }

    /// <summary>Second step: 401 without a caller, 403 outside its scope.</summary>
    public static async Task RequireAsync(HttpContext context, Func<Task> next)
    {
        if (IsApi(context))
        {
            var caller = TryCallerOf(context);
            if (caller is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized,
                    "this API needs a valid key: send 'Authorization: Bearer moat_…' with a key that is not expired or revoked.").ConfigureAwait(false);
                return;
            }

            if (!caller.IsAdmin && context.GetEndpoint()?.Metadata.GetMetadata<AdminOnly>() is not null)
            {
                await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "this call is for administrators' keys; your key is a client's.").ConfigureAwait(false);
                return;
            }
        }

        await next().ConfigureAwait(false);
    }

    /// <summary>The key of one well-formed Bearer header; null for none, several, or another scheme.</summary>
    private static string? BearerOf(Microsoft.Extensions.Primitives.StringValues values)
    {
        if (values.Count != 1 || values[0] is not { } header || header.Length > ApiKeys.MaxLength + 7
            || !header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return null;
        }

        return header[7..];
    }
}
