using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Moat.Control.Auth;
using Moat.Control.Metrics;
using Moat.Control.Store;

namespace Moat.Control.Api;

/// <summary>
/// Records every state-changing call of an authenticated caller (any method but GET and HEAD under /v1/) in the
/// store's audit log once it is answered: the key, its client, the route, the target, the status and the outcome.
/// </summary>
public static class AuditMiddleware
{
    public const string OutcomeKey = "moat.audit.outcome";
    private const string TargetKey = "moat.audit.target";

    /// <summary>Names what a call acted on, when the route does not (a new sandbox's id, a new key's id).</summary>
    public static void Target(HttpContext context, string target)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Items[TargetKey] = target;
    }

    public static async Task InvokeAsync(HttpContext context, Func<Task> next, IControlStore store, ControlMetrics metrics, TimeProvider time)
    {
        if (!KeyAuthentication.IsApi(context) || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            await next().ConfigureAwait(false);
            return;
        }

        try
        {
            await next().ConfigureAwait(false);
        }
        finally
        {
            if (KeyAuthentication.TryCallerOf(context) is { } caller)
            {
                var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
                var target = context.Items.TryGetValue(TargetKey, out var t) && t is string s ? s
                    : context.Request.RouteValues.TryGetValue("reference", out var r) ? r?.ToString()
                    : context.Request.RouteValues.Values.FirstOrDefault()?.ToString();
                int status = context.Response.StatusCode;
                var outcome = status < 400 ? "ok" : context.Items.TryGetValue(OutcomeKey, out var o) && o is string why ? why : "failed";
                var action = $"{context.Request.Method} {Limit(route, 200)}";
                await store.AppendAuditAsync(new AuditEntry(0, time.GetUtcNow(), caller.KeyId, caller.Client, action, Limit(target ?? string.Empty, 200), status,
                    Limit(outcome, 500)), CancellationToken.None).ConfigureAwait(false);
                metrics.Audit.WithLabels(action, status < 400 ? "ok" : "refused").Inc();
            }
        }
    }

    private static string Limit(string text, int max) => text.Length <= max ? text : text[..max];
}
