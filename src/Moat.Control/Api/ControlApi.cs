using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Moat.Control.Auth;
using Moat.Control.Hosts;

namespace Moat.Control.Api;

/// <summary>The versioned API under /v1/. Every endpoint needs a key (<see cref="KeyAuthentication"/>); those marked
/// <see cref="AdminOnly"/> need an administrator's.</summary>
public static class ControlApi
{
    public static IEndpointRouteBuilder MapControlApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        var admin = v1.MapGroup(string.Empty).WithMetadata(AdminOnly.Instance);

        v1.MapGet("/whoami", async Task<Ok<WhoAmI>> (HttpContext c, ControlService s, CancellationToken ct) =>
        {
            var caller = KeyAuthentication.CallerOf(c);
            var client = await s.Store.GetClientAsync(caller.Client, ct);
            return TypedResults.Ok(new WhoAmI(caller.KeyId, caller.Client, caller.Scope.ToString().ToLowerInvariant(), client?.Trust));
        }).WithSummary("The caller's key, client, scope and trust.");

        // ---- sandboxes ----
        v1.MapGet("/sandboxes", async Task<Ok<List<SandboxView>>> (HttpContext c, string? client, ControlService s, CancellationToken ct) =>
            TypedResults.Ok((await s.ListAsync(KeyAuthentication.CallerOf(c), client, ct)).Select(SandboxView.Of).ToList()))
            .WithSummary("The caller's sandboxes (an administrator's: all, or one client's with ?client=).");
        v1.MapPost("/sandboxes", async Task<Created<ClaimView>> (HttpContext c, ClaimRequest request, ControlService s, CancellationToken ct) =>
        {
            var claim = await s.ClaimAsync(KeyAuthentication.CallerOf(c), request, ct);
            AuditMiddleware.Target(c, claim.Sandbox.Id);
            return TypedResults.Created($"/v1/sandboxes/{claim.Sandbox.Id}", claim);
        }).WithSummary("Claims a warm sandbox (or creates one with pool=false) on the host the placement picks for the client's trust.");
        v1.MapGet("/sandboxes/{reference}", async Task<Ok<SandboxView>> (HttpContext c, string reference, ControlService s, CancellationToken ct) =>
            TypedResults.Ok(SandboxView.Of(await s.ResolveAsync(KeyAuthentication.CallerOf(c), reference, ct))))
            .WithSummary("One of the caller's sandboxes, by id or name.");
        v1.MapPost("/sandboxes/{reference}/exec", async Task<Ok<ExecView>> (HttpContext c, string reference, ExecRequest request, ControlService s, CancellationToken ct) =>
        {
            var r = await s.ExecAsync(KeyAuthentication.CallerOf(c), reference, request, ct);
            return TypedResults.Ok(new ExecView(r.ExitCode, r.Stdout, r.Stderr));
        }).WithSummary("Runs a command in the sandbox; the output comes back whole when it ends (not streamed).");
        v1.MapPost("/sandboxes/{reference}/stop", async Task<Ok<SandboxView>> (HttpContext c, string reference, ControlService s, CancellationToken ct) =>
            TypedResults.Ok(SandboxView.Of(await s.StopAsync(KeyAuthentication.CallerOf(c), reference, ct))))
            .WithSummary("Stops the sandbox's processes (SIGTERM, then SIGKILL after 5 s); it can be removed or started again.");
        v1.MapDelete("/sandboxes/{reference}", async Task<NoContent> (HttpContext c, string reference, ControlService s, CancellationToken ct) =>
        {
            await s.RemoveAsync(KeyAuthentication.CallerOf(c), reference, ct);
            return TypedResults.NoContent();
        }).WithSummary("Removes the sandbox from its host and from the store.");
        v1.MapPost("/sandboxes/{reference}/quarantine", async Task<Ok<QuarantineView>> (HttpContext c, string reference, ControlService s, CancellationToken ct) =>
        {
            var q = await s.QuarantineAsync(KeyAuthentication.CallerOf(c), reference, true, ct);
            return TypedResults.Ok(new QuarantineView(q.Id, q.Quarantined));
        }).WithSummary("Drops every packet to and from the sandbox (nftables on its host).");
        v1.MapDelete("/sandboxes/{reference}/quarantine", async Task<Ok<QuarantineView>> (HttpContext c, string reference, ControlService s, CancellationToken ct) =>
        {
            var q = await s.QuarantineAsync(KeyAuthentication.CallerOf(c), reference, false, ct);
            return TypedResults.Ok(new QuarantineView(q.Id, q.Quarantined));
        }).WithSummary("Lifts a quarantine (administrators only).");

        // ---- hosts ----
        admin.MapGet("/hosts", Ok<List<HostView>> (IHostFabric? fabric) =>
            TypedResults.Ok((fabric?.Hosts ?? []).OrderBy(h => h.Jid, StringComparer.Ordinal)
                .Select(h => new HostView(h.Jid, h.Sandboxes, h.PoolReady, h.PoolTarget, h.FreeMemoryMb, h.Version)).ToList()))
            .WithSummary("Hosts online on the fabric, from their presence.");
        admin.MapGet("/hosts/{jid}", async Task<Ok<System.Text.Json.JsonElement>> (string jid, IHostFabric? fabric, CancellationToken ct) =>
        {
            var h = fabric?.Hosts.FirstOrDefault(x => string.Equals(x.Jid, jid, StringComparison.OrdinalIgnoreCase)
                || x.Jid.StartsWith(jid + "/", StringComparison.OrdinalIgnoreCase))
                ?? throw new ControlNotFoundException($"no host '{Names.Show(jid)}' is online: GET /v1/hosts lists them.");
            return TypedResults.Ok(await fabric.StatusAsync(h.Jid, ct));
        }).WithSummary("A host's full status (pools, tiers, containment), asked over the fabric.");

        // ---- clients and keys ----
        admin.MapGet("/clients", async Task<Ok<List<ClientView>>> (ControlService s, CancellationToken ct) =>
            TypedResults.Ok((await s.Store.ListClientsAsync(ct)).Select(c => new ClientView(c.Name, c.Trust, c.CreatedAt)).ToList()))
            .WithSummary("Clients and their trust.");
        admin.MapPost("/clients", async Task<Created<ClientView>> (HttpContext c, ClientRequest request, ControlService s, CancellationToken ct) =>
        {
            AuditMiddleware.Target(c, request.Name ?? string.Empty);
            var made = await s.AddClientAsync(request.Name ?? string.Empty, request.Trust ?? string.Empty, ct);
            return TypedResults.Created($"/v1/clients/{made.Name}", new ClientView(made.Name, made.Trust, made.CreatedAt));
        }).WithSummary("Adds a client with a trust level (trusted, semi-trusted, untrusted).");
        admin.MapPut("/clients/{name}", async Task<NoContent> (string name, TrustRequest request, ControlService s, CancellationToken ct) =>
        {
            await s.SetTrustAsync(name, request.Trust ?? string.Empty, ct);
            return TypedResults.NoContent();
        }).WithSummary("Changes a client's trust; sandboxes placed from now on get it.");
        admin.MapGet("/keys", async Task<Ok<List<KeyView>>> (ControlService s, CancellationToken ct) =>
            TypedResults.Ok((await s.Store.ListKeysAsync(ct)).Select(k => new KeyView(k.Id, k.Client, k.Scope.ToString().ToLowerInvariant(), k.CreatedAt, k.ExpiresAt, k.RevokedAt)).ToList()))
            .WithSummary("Keys (ids, clients, scopes, expiry, revocation; never the keys).");
        admin.MapPost("/keys", async Task<Created<NewKeyView>> (HttpContext c, KeyRequest request, ControlService s, CancellationToken ct) =>
        {
            AuditMiddleware.Target(c, request.Client ?? string.Empty);
            var (key, record) = await s.CreateKeyAsync(request.Client ?? string.Empty, request.Admin,
                request.ExpiresInDays is { } d ? (double.IsFinite(d) && d is > 0 and <= 3660 ? TimeSpan.FromDays(d)
                    : throw new ControlInputException($"expiresInDays {d} is not valid: give more than 0 and at most 3660, or leave it out.")) : null, ct);
            AuditMiddleware.Target(c, record.Id);
            return TypedResults.Created($"/v1/keys/{record.Id}", new NewKeyView(record.Id, record.Client, record.Scope.ToString().ToLowerInvariant(), record.ExpiresAt, key));
        }).WithSummary("Makes a key for a client; the key is in this answer only.");
        admin.MapDelete("/keys/{id}", async Task<NoContent> (string id, ControlService s, TimeProvider time, CancellationToken ct) =>
            await s.Store.RevokeKeyAsync(id, time.GetUtcNow(), ct) ? TypedResults.NoContent()
                : throw new ControlNotFoundException($"no key '{Names.Show(id)}': GET /v1/keys lists them."))
            .WithSummary("Revokes a key at once.");

        // ---- audit ----
        admin.MapGet("/audit", async Task<Ok<List<Store.AuditEntry>>> (long? after, int? limit, ControlService s, CancellationToken ct) =>
        {
            if (limit is < 1 or > 10_000 || after is < 0)
            {
                throw new ControlInputException("'limit' must be 1 to 10000 and 'after' a sequence number of 0 or more.");
            }

            return TypedResults.Ok((await s.Store.ListAuditAsync(after ?? 0, limit ?? 1000, ct)).ToList());
        }).WithSummary("Every state-changing call (who, what, when, outcome), oldest first; page with ?after=<last seq>.");
        return app;
    }
}

/// <summary>Marks endpoints that need an administrator's key.</summary>
public sealed class AdminOnly
{
    public static readonly AdminOnly Instance = new();
}
