using System.Net;

namespace Moat.Containment.Resolver;

/// <summary>Where the egress resolver puts the addresses it answered: each sandbox's name set in the kernel.</summary>
public interface INameSets
{
    /// <summary>Adds the addresses with their timeouts; returns only once the kernel holds them.</summary>
    void AdmitNameAddresses(string id, IReadOnlyList<(IPAddress Address, TimeSpan Timeout)> entries);

    /// <summary>Removes the addresses at once; no error for ones not there.</summary>
    void RevokeNameAddresses(string id, IReadOnlyList<IPAddress> addresses);
}

/// <summary>A sandbox as the egress resolver knows it: who asks from which address, and what the policy lets it resolve.</summary>
/// <param name="Trusted">A trusted sandbox's allowed names are answered without filtering; nothing is put in a set (it needs none).</param>
/// <param name="PolicyNames">Its trust level's and its client's names from the policy.</param>
/// <param name="HostInterface">The host end of the sandbox's link: a UDP query is taken as the sandbox's only when it
/// arrived on that interface, so a sandbox that forges a neighbour's source address (a trusted one is not held to its
/// own) cannot widen the neighbour's set. Null: not checked (tests that have no such link).</param>
public sealed record EgressSandbox(string Id, IPAddress Address, bool Trusted, Names.EgressNames PolicyNames, string? HostInterface = null);

/// <summary>A query the resolver refused: what the flow log records as refused by name.</summary>
/// <param name="Reason">"not-listed" (no allow entry matches, or not class IN) or "denied" (a deny entry, or a known DoH service, matches the name or a CNAME in its chain).</param>
public sealed record NameRefusal(DateTimeOffset Time, string SandboxId, IPAddress Source, int SourcePort, string Name, ushort Type, string Reason);

/// <summary>What the resolver has done since it started.</summary>
public sealed record EgressResolverCounters(
    long Queries, long Answered, long Refused, long Malformed, long UpstreamFailures, long Unknown, long Admitted, long TunnelAlerts, long RateLimited);
