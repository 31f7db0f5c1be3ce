using System.Net;

namespace Moat.Host.Network;

/// <summary>
/// Builds and removes a sandbox's network plumbing: its own network namespace joined to the host by a veth pair,
/// the sandbox end named eth0 with a routed /32 and a default route to the link-local gateway 169.254.1.1 that every
/// host end answers for. No two sandboxes share a layer-2 segment.
/// </summary>
public interface ISandboxNetwork
{
    /// <summary>
    /// Namespace + veth pair + loopback up, no address yet (what a warm-pool sandbox holds). Makes only what is
    /// missing; with <paramref name="processId"/>, a missing namespace name is re-attached to that process's
    /// namespace instead of a new one being made (a running sandbox keeps its network).
    /// </summary>
    Task PrepareAsync(string netns, string hostInterface, int? processId = null, CancellationToken cancellationToken = default);

    /// <summary>Gives the prepared sandbox its address and routes, on both ends.</summary>
    Task AssignAsync(string netns, string hostInterface, IPAddress address, CancellationToken cancellationToken = default);

    /// <summary>Removes the veth pair and the namespace; succeeds when they are already gone.</summary>
    Task DestroyAsync(string netns, string hostInterface, CancellationToken cancellationToken = default);

    /// <summary>What of the plumbing exists now (for reconciliation).</summary>
    Task<NetworkPresence> InspectAsync(string netns, string hostInterface, CancellationToken cancellationToken = default);
}

/// <summary>Which parts of a sandbox's plumbing the kernel has.</summary>
public sealed record NetworkPresence(bool NamespaceExists, bool HostInterfaceExists);
