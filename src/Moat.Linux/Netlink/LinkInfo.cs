using Moat.Linux.Namespaces;

namespace Moat.Linux.Netlink;

/// <summary>One network interface as the kernel reports it in an RTM_NEWLINK dump, for reconciliation.</summary>
/// <param name="Name">The interface name (IFLA_IFNAME).</param>
/// <param name="Index">The interface index in its namespace.</param>
/// <param name="Kind">The link kind (IFLA_INFO_KIND), e.g. "veth", "dummy"; null for physical or loopback devices.</param>
/// <param name="Flags">The IFF_* flags (IFF_UP = 1).</param>
/// <param name="Mtu">The MTU.</param>
/// <param name="MasterIndex">IFLA_MASTER: the bridge or bond this link is enslaved to, if any.</param>
/// <param name="PeerIndex">IFLA_LINK: for a veth, the peer's index (in the peer's namespace).</param>
/// <param name="PeerNetnsId">IFLA_LINK_NETNSID: for a veth whose peer is in another namespace, that namespace's id as seen from here.</param>
public sealed record LinkInfo(string Name, int Index, string? Kind, uint Flags, int Mtu, int? MasterIndex, int? PeerIndex, int? PeerNetnsId)
{
    public bool IsUp => (Flags & 1) != 0;
}

/// <summary>A veth pair to create: <paramref name="Name"/> where the request is made, its peer optionally inside another namespace.</summary>
/// <param name="Name">This end's name (at most 15 bytes).</param>
/// <param name="PeerName">The peer's name, or null to let the kernel pick "vethN".</param>
/// <param name="PeerNamespace">The namespace the peer is created in directly (no move), or null for the same namespace.</param>
public sealed record VethSpec(string Name, string? PeerName = null, NetworkNamespace? PeerNamespace = null)
{
    /// <summary>The MTU of both ends, or null for the kernel default (1500).</summary>
    public int? Mtu { get; init; }

    /// <summary>
    /// Bring this end up as it is created (saves a request). The peer cannot be: the kernel opens it before the
    /// pair is joined and refuses (ENOTCONN), so the peer is brought up by a request of its own.
    /// </summary>
    public bool Up { get; init; }

    /// <summary>This end's MAC address, or null for a random one.</summary>
    public System.Net.NetworkInformation.PhysicalAddress? Mac { get; init; }

    /// <summary>The peer's MAC address, or null for a random one.</summary>
    public System.Net.NetworkInformation.PhysicalAddress? PeerMac { get; init; }
}

/// <summary>One address as the kernel reports it in an RTM_NEWADDR dump, for reconciliation.</summary>
public sealed record AddressInfo(int InterfaceIndex, System.Net.IPAddress Address, int PrefixLength, RouteScope Scope);
