using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Moat.Host.Pool;
using Moat.Host.Sandboxes;

namespace Moat.Host.Api;

/// <summary>The host agent's local API (Unix socket): sandboxes, the warm pool and the host's status.</summary>
public static class SandboxApi
{
    public static IEndpointRouteBuilder MapSandboxApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").AddEndpointFilter(ProblemFilter);

        api.MapGet("/sandboxes", (SandboxService s) => TypedResults.Ok(s.List()));
        api.MapGet("/sandboxes/{reference}", async (string reference, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.InspectAsync(reference, ct)));
        api.MapPost("/sandboxes", async (SandboxSpec spec, bool? start, SandboxService s, Metrics.AgentMetrics metrics, CancellationToken ct) =>
        {
            var sw = Stopwatch.StartNew();
            var created = await s.CreateAsync(spec, start ?? true, ct);
            metrics.Create.WithLabels("socket").Observe(sw.Elapsed.TotalSeconds);
            return TypedResults.Created($"/v1/sandboxes/{created.Id}", created);
        });
        api.MapPost("/sandboxes/claim", async (SandboxSpec spec, SandboxService s, Metrics.AgentMetrics metrics, CancellationToken ct) =>
        {
            var sw = Stopwatch.StartNew();
            var (sandbox, fromPool) = await s.ClaimAsync(spec, ct);
            metrics.Claim.WithLabels("socket", fromPool ? "true" : "false").Observe(sw.Elapsed.TotalSeconds);
            return TypedResults.Ok(new ClaimResponse(sandbox, fromPool, sw.Elapsed.TotalMilliseconds));
        });
        api.MapPost("/sandboxes/{reference}/start", async (string reference, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.StartAsync(reference, ct)));
        api.MapPost("/sandboxes/{reference}/stop", async (string reference, double? grace, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.StopAsync(reference, TimeSpan.FromSeconds(grace ?? 10), ct)));
        api.MapPost("/sandboxes/{reference}/pause", async (string reference, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.PauseAsync(reference, ct)));
        api.MapPost("/sandboxes/{reference}/resume", async (string reference, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.ResumeAsync(reference, ct)));
        api.MapDelete("/sandboxes/{reference}", async (string reference, SandboxService s, CancellationToken ct) =>
        {
            await s.DestroyAsync(reference, ct);
            return TypedResults.NoContent();
        });
        api.MapPost("/sandboxes/{reference}/exec", async (string reference, ExecRequest req, SandboxService s, CancellationToken ct) =>
        {
            if (req.TimeoutSeconds is <= 0 or > 86_400)
            {
                throw new InvalidRequestException($"timeout {req.TimeoutSeconds} s is not valid: give more than 0 and at most 86400 seconds.");
            }

            return TypedResults.Ok(await s.ExecAsync(reference, req.Command ?? [], req.Env, TimeSpan.FromSeconds(req.TimeoutSeconds), ct));
        });
        api.MapPost("/sandboxes/{reference}/interactive", (string reference, InteractiveRequest req, SandboxService s) =>
            TypedResults.Ok(s.InteractiveExec(reference, req.Command ?? [], req.Tty)));
        api.MapPost("/sandboxes/{reference}/evidence", async (string reference, string? directory, Evidence.EvidenceCollector e, CancellationToken ct) =>
            TypedResults.Ok(await e.CollectAsync(reference, directory, ct)));
        api.MapGet("/sandboxes/{reference}/logs", (string reference, int? tail, SandboxService s) =>
            TypedResults.Text(s.Logs(reference, Math.Clamp(tail ?? 65536, 1, 16 << 20))));
        MapTransferApi(api);
        api.MapGet("/pool", (WarmPool pool) => TypedResults.Ok(pool.Status()));
        api.MapPost("/pool/fill", async (WarmPool pool, CancellationToken ct) =>
        {
            await pool.FillAsync(ct);
            return TypedResults.Ok(pool.Status());
        });
        return app;
    }

    /// <summary>Moving a sandbox between hosts: checkpoint support and checkpoints, reserving a copy, exporting and
    /// importing state.</summary>
    private static void MapTransferApi(RouteGroupBuilder api)
    {
        api.MapGet("/checkpoint", async (SandboxService s, CancellationToken ct) => TypedResults.Ok(await s.CheckpointSupportAsync(ct)));
        api.MapPost("/sandboxes/{reference}/checkpoint", async (string reference, SandboxService s, CancellationToken ct) =>
            TypedResults.Ok(await s.CheckpointAsync(reference, ct)));
        api.MapPost("/sandboxes/reserve", async (SandboxManifest manifest, SandboxService s, ILoggerFactory logs, CancellationToken ct) =>
        {
            var reserved = await new SandboxTransfer(s, logs.CreateLogger<SandboxTransfer>()).ReserveAsync(manifest, ct);
            return TypedResults.Created($"/v1/sandboxes/{reserved.Id}", reserved);
        });
        api.MapGet("/sandboxes/{reference}/state", (string reference, SandboxService s, ILoggerFactory logs, CancellationToken ct) =>
        {
            var transfer = new SandboxTransfer(s, logs.CreateLogger<SandboxTransfer>());
            var sandbox = transfer.PrepareExport(reference);
            return TypedResults.Stream(body => transfer.ExportAsync(sandbox, body, ct), SandboxTransfer.ContentType);
        });
        api.MapPut("/sandboxes/{reference}/state", async (string reference, bool? start, HttpRequest request, SandboxService s, ILoggerFactory logs, CancellationToken ct) =>
        {
            // A sandbox's layer and volume can be far larger than Kestrel's default request limit (30 MB).
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null;
            }

            return TypedResults.Ok(await new SandboxTransfer(s, logs.CreateLogger<SandboxTransfer>()).ImportAsync(reference, request.Body, start ?? true, ct));
        });
    }

    /// <summary>Turns the agent's errors into RFC 7807 problems with the status the failure deserves.</summary>
    internal static async ValueTask<object?> ProblemFilter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (MoatHostException e)
        {
            return TypedResults.Problem(e.Message, statusCode: ProblemStatus.Of(e.Kind));
        }
    }
}
