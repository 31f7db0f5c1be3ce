using Moat.Containment;
using Moat.Containment.Names;
using Moat.Host.Network;

namespace Moat.Host.Api;

/// <summary>
/// `moat sandbox egress`: names to add to the sandbox's own allow and deny lists (an allowed name is taken off the deny
/// list and the other way round), or, with <see cref="Replace"/>, its whole own lists. Empty lists change nothing and
/// report the lists in force.
/// </summary>
public sealed record EgressRequest(IReadOnlyList<string>? Allow = null, IReadOnlyList<string>? Deny = null, bool Replace = false);

/// <summary>The sandbox's own lists and the lists in force (its trust level's and client's from the policy, and its own).</summary>
public sealed record EgressResponse(string Id, IReadOnlyList<string> Allow, IReadOnlyList<string> Deny, IReadOnlyList<string> InForceAllow, IReadOnlyList<string> InForceDeny);

/// <summary>The change of one sandbox's names through the host's egress resolver.</summary>
internal static class EgressChange
{
    /// <summary>Applies <paramref name="request"/> live; refusals (a bad name, no resolver) are <see cref="ContainmentInputException"/>.</summary>
    public static EgressResponse Apply(NftablesContainment containment, string id, EgressRequest request)
    {
        var resolver = containment.Inner.Resolver
            ?? throw new ContainmentInputException("This host runs no egress resolver, so names cannot be allowed or denied; start the agent with --dns-upstream ADDR.");
        var add = EgressNames.Parse(request.Allow ?? [], request.Deny ?? []);
        var current = resolver.NamesOf(id)
            ?? throw new ContainmentInputException($"Sandbox '{id}' is not served by this host's egress resolver; give a running sandbox.");
        if ((request.Allow is null or []) && (request.Deny is null or []) && !request.Replace)
        {
            return Response(id, current.Own, current.Effective);
        }

        var own = request.Replace ? add : EgressNames.Parse(
            current.Own.Allow.Where(p => add.Deny.All(d => d.Text != p.Text)).Concat(add.Allow).Select(p => p.Text),
            current.Own.Deny.Where(p => add.Allow.All(a => a.Text != p.Text)).Concat(add.Deny).Select(p => p.Text));
        return Response(id, own, containment.Inner.SetSandboxNames(id, own));
    }

    private static EgressResponse Response(string id, EgressNames own, EgressNames inForce) =>
        new(id, [.. own.Allow.Select(p => p.Text)], [.. own.Deny.Select(p => p.Text)], [.. inForce.Allow.Select(p => p.Text)], [.. inForce.Deny.Select(p => p.Text)]);
}
