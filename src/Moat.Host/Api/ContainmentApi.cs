using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Moat.Containment;
using Moat.Host.Network;
using Moat.Host.Sandboxes;

namespace Moat.Host.Api;

/// <summary>
/// Request to open a path by authorization certificate: the certificate chain as PEM, and the proof that the presenter
/// holds the authcert's user key: its signature (base64) over the sandbox id, the authcert's serial and the signing
/// time (Unix seconds), see <see cref="Moat.Pki.AuthCerts.PossessionProof"/>.
/// </summary>
public sealed record AllowRequest(string Pem, string? Proof = null, long? ProofSignedAt = null);

/// <summary>What `sandbox allow` opened (or why not).</summary>
public sealed record AllowResponse(bool Open, string? Address, DateTimeOffset? Until, string Explanation);

/// <summary>The result of a quarantine or release.</summary>
public sealed record QuarantineResponse(string Id, bool Quarantined, bool Frozen, string Mechanism);

/// <summary>The policy now in force.</summary>
public sealed record PolicyResponse(string Source, string DefaultTrust, int Clients, int AllowRules);

/// <summary>Network containment verbs of the local API: quarantine, release, authcert openings, policy reload.</summary>
public static class ContainmentApi
{
    public static IEndpointRouteBuilder MapContainmentApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").AddEndpointFilter(SandboxApi.ProblemFilter).AddEndpointFilter(InputProblemFilter);

        api.MapPost("/sandboxes/{reference}/quarantine", async (string reference, bool? freeze, SandboxService s, CancellationToken ct) =>
        {
            var c = Required(s);
            var sandbox = s.Get(reference);
            await c.Inner.QuarantineAsync(sandbox.Id, freeze ?? false, ct);
            return TypedResults.Ok(new QuarantineResponse(sandbox.Id, true, freeze ?? false, "nftables drop of every packet to and from the sandbox"));
        });
        api.MapDelete("/sandboxes/{reference}/quarantine", async (string reference, SandboxService s, CancellationToken ct) =>
        {
            var c = Required(s);
            var sandbox = s.Get(reference);
            await c.Inner.ReleaseAsync(sandbox.Id, ct);
            return TypedResults.Ok(new QuarantineResponse(sandbox.Id, false, false, "rules of its trust level back in force"));
        });
        api.MapPost("/sandboxes/{reference}/allow", async (string reference, AllowRequest req, SandboxService s, CancellationToken ct) =>
        {
            var c = Required(s);
            var sandbox = s.Get(reference);
            if (string.IsNullOrWhiteSpace(req.Pem))
            {
                throw new InvalidRequestException("the request carries no certificate: give the authcert chain as PEM (see 'moat authcert issue').");
            }

            var verdict = await c.Inner.AllowAsync(sandbox.Id, req.Pem, ProofOf(sandbox.Id, req), ct);
            return TypedResults.Ok(new AllowResponse(verdict.IsOpen, verdict.Address?.ToString(), verdict.ValidUntil, verdict.Explanation));
        });
        api.MapPost("/sandboxes/{reference}/egress", (string reference, EgressRequest req, SandboxService s) =>
            TypedResults.Ok(EgressChange.Apply(Required(s), s.Get(reference).Id, req)));
        api.MapPost("/policy/reload", (SandboxService s) =>
        {
            var c = Required(s);
            var policy = c.Inner.ReloadPolicy();
            return TypedResults.Ok(new PolicyResponse(policy.Source, policy.DefaultTrust.ToString(), policy.Clients.Count, policy.Allow.Count));
        });
        return app;
    }

    private static Moat.Pki.AuthCerts.PossessionProof? ProofOf(string sandboxId, AllowRequest req)
    {
        if (req.Proof is null)
        {
            return null;
        }

        if (req.ProofSignedAt is not { } at || at is < 0 or > 253_402_300_799)
        {
            throw new InvalidRequestException("the proof of key possession comes without a valid signing time (proofSignedAt, Unix seconds).");
        }

        var signature = new byte[req.Proof.Length];
        if (!Convert.TryFromBase64String(req.Proof, signature, out var length))
        {
            throw new InvalidRequestException("the proof of key possession is not base64.");
        }

        return new Moat.Pki.AuthCerts.PossessionProof(sandboxId, DateTimeOffset.FromUnixTimeSeconds(at), signature[..length]);
    }

    private static NftablesContainment Required(SandboxService s) =>
        s.Containment as NftablesContainment
        ?? throw new ResourceExhaustedException("this host enforces no containment policy: start the agent with --policy FILE (or put policy.yaml in its state folder).");

    /// <summary>Containment refuses bad input (a policy file, a certificate) with one sentence: a 400 for the caller.</summary>
    private static async ValueTask<object?> InputProblemFilter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (ContainmentException e)
        {
            return TypedResults.Problem(e.Message, statusCode: ProblemStatus.Of(e.Kind));
        }
    }
}
