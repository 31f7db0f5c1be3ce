using System.Net;

namespace Moat.Containment.Tunnels;

/// <summary>
/// One sandbox's tunnel to its client: everything the sandbox sends goes through the client, except to
/// <see cref="Direct"/> prefixes and the client itself, which are reached directly.
/// </summary>
/// <param name="SandboxId">The sandbox (names the host's tunnel interface "mt" + id).</param>
/// <param name="SandboxAddress">The sandbox's address on the host (its /32); the policy rule matches it as source.</param>
/// <param name="ClientUnderlayAddress">The client's address as the host reaches it: the VXLAN remote.</param>
/// <param name="Vni">The VXLAN id, the same on the client's end (<c>moat client tunnel --vni</c>).</param>
public sealed record TunnelSpec(string SandboxId, IPAddress SandboxAddress, IPAddress ClientUnderlayAddress, uint Vni)
{
    /// <summary>Destinations reached directly rather than through the client (e.g. the data source the policy opens).</summary>
    public IReadOnlyList<IPNetwork> Direct { get; init; } = [];

    public bool Equals(TunnelSpec? other) =>
        other is not null
        && SandboxId == other.SandboxId
        && SandboxAddress.Equals(other.SandboxAddress)
        && ClientUnderlayAddress.Equals(other.ClientUnderlayAddress)
        && Vni == other.Vni
        && Direct.Order().SequenceEqual(other.Direct.Order());

    public override int GetHashCode() => HashCode.Combine(SandboxId, SandboxAddress, ClientUnderlayAddress, Vni);
}

/// <summary>Where and how the host side of tunnels is built.</summary>
public sealed record TunnelOptions
{
    /// <summary>The host's own underlay address: the source of encapsulated packets (the client's <c>--host</c>).</summary>
    public required IPAddress HostUnderlayAddress { get; init; }

    /// <summary>The UDP port of VXLAN on both ends.</summary>
    public ushort Port { get; init; } = Moat.Linux.Netlink.VxlanSpec.DefaultPort;

    /// <summary>Per-sandbox routing tables are TableBase + VXLAN id (so a table names its tunnel after a restart).</summary>
    public uint TableBase { get; init; } = 0x6D00_0000;

    /// <summary>Priority of the "to a direct destination: use main" rules; the sandbox's tunnel rule is the next number.</summary>
    public uint RulePriority { get; init; } = 10_100;

    /// <summary>The namespace whose routes the tunnels live in (the host's), or null for the calling thread's.</summary>
    public Moat.Linux.Namespaces.NetworkNamespace? Namespace { get; init; }
}

/// <summary>A tunnel could not be built, found or removed; the message is one sentence naming what and why.</summary>
public sealed class TunnelException : ContainmentException
{
    public TunnelException(string message)
        : base(message)
    {
    }

    public TunnelException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
