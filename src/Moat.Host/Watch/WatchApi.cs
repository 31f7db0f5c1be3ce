using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Moat.Host.Watch;

/// <summary>The watchers' part of the agent's API: alerts and responses, an operator's release, and coverage.</summary>
public static class WatchApi
{
    public static IEndpointRouteBuilder MapWatchApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").AddEndpointFilter(Problems);
        api.MapGet("/alerts", async (string? sandbox, int? limit, WatchService w, CancellationToken ct) =>
            TypedResults.Ok(await w.AlertsAsync(sandbox, Math.Clamp(limit ?? 1000, 1, 100_000), ct)));
        api.MapPost("/sandboxes/{reference}/release", async (string reference, string? by, WatchService w, CancellationToken ct) =>
            TypedResults.Ok(await w.ReleaseAsync(reference, string.IsNullOrWhiteSpace(by) ? "operator" : by, ct)));
        api.MapGet("/watch", (WatchService w) => TypedResults.Ok(w.Status()));
        return app;
    }

    private static async ValueTask<object?> Problems(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (InvalidRequestException e)
        {
            return TypedResults.Problem(e.Message, statusCode: e.NotFound ? 404 : 400);
        }
        catch (MoatHostException e)
        {
            return TypedResults.Problem(e.Message, statusCode: 500);
        }
    }
}
