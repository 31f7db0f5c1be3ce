using System.Net;

namespace Moat.Linux.Netlink;

/// <summary>A VXLAN link to create: a point-to-point tunnel to one remote underlay address (unicast, no multicast group).</summary>
/// <param name="Name">The interface name (at most 15 bytes).</param>
/// <param name="Vni">The VXLAN network identifier (1 to 16,777,215), the same at both ends.</param>
/// <param name="Remote">The other end's underlay address: where encapsulated packets are sent.</param>
/// <param name="Local">This end's underlay address (the source of encapsulated packets), or null to let routing choose.</param>
public sealed record VxlanSpec(string Name, uint Vni, IPAddress Remote, IPAddress? Local = null)
{
    /// <summary>The IANA VXLAN port; both ends must use the same one.</summary>
    public const ushort DefaultPort = 4789;

    /// <summary>The largest VXLAN id (24 bits).</summary>
    public const uint MaxVni = (1 << 24) - 1;

    public ushort DestinationPort { get; init; } = DefaultPort;

    /// <summary>The underlay device (IFLA_VXLAN_LINK), or null to let routing choose; with it the kernel sizes the MTU for the overhead.</summary>
    public int? UnderlayInterfaceIndex { get; init; }

    /// <summary>The MTU, or null for the kernel's choice (underlay MTU minus the 50-byte VXLAN overhead).</summary>
    public int? Mtu { get; init; }

    /// <summary>Bring the link up as it is created.</summary>
    public bool Up { get; init; }
}

/// <summary>A VXLAN link as the kernel reports it, for reconciliation.</summary>
public sealed record VxlanInfo(string Name, int Index, uint Vni, IPAddress? Remote, IPAddress? Local, ushort DestinationPort, bool IsUp);

/// <summary>
/// One IPv4/IPv6 policy-routing rule (what <c>ip rule</c> shows): packets matching the source and destination prefixes
/// are looked up in <see cref="Table"/>, rules being tried in ascending <see cref="Priority"/>.
/// </summary>
/// <param name="Priority">The rule's position (FRA_PRIORITY); lower runs first. The kernel's own rules are 0, 32766 and 32767.</param>
/// <param name="Table">The routing table to look up (FRA_TABLE); 254 is "main".</param>
public sealed record RuleSpec(uint Priority, uint Table)
{
    /// <summary>Match packets from this prefix, or null for any source.</summary>
    public IPNetwork? Source { get; init; }

    /// <summary>Match packets to this prefix, or null for any destination.</summary>
    public IPNetwork? Destination { get; init; }

    /// <summary>The address family when neither prefix says it: AF_INET (2) or AF_INET6 (10).</summary>
    public bool IPv6 { get; init; }

    /// <summary>Match only packets that arrived on this interface (FRA_IIFNAME, <c>ip rule ... iif</c>), or null for any.</summary>
    public string? InputInterface { get; init; }
}

/// <summary>Numbers from linux/if_link.h (IFLA_VXLAN_*) and linux/fib_rules.h for VXLAN links and FIB rules.</summary>
internal static class RtnlTunnels
{
    public const ushort RTM_NEWRULE = 32;
    public const ushort RTM_DELRULE = 33;
    public const ushort RTM_GETRULE = 34;

    public const ushort IFLA_VXLAN_ID = 1;
    public const ushort IFLA_VXLAN_GROUP = 2;
    public const ushort IFLA_VXLAN_LINK = 3;
    public const ushort IFLA_VXLAN_LOCAL = 4;
    public const ushort IFLA_VXLAN_LEARNING = 7;
    public const ushort IFLA_VXLAN_PORT = 15;
    public const ushort IFLA_VXLAN_GROUP6 = 16;
    public const ushort IFLA_VXLAN_LOCAL6 = 17;

    public const ushort FRA_DST = 1;
    public const ushort FRA_SRC = 2;
    public const ushort FRA_IIFNAME = 3;
    public const ushort FRA_PRIORITY = 6;
    public const ushort FRA_TABLE = 15;
    public const ushort FRA_PROTOCOL = 21;
    public const byte FR_ACT_TO_TBL = 1;

    /// <summary>RTPROT_STATIC: marks rules Moat installed apart from the kernel's defaults.</summary>
    public const byte ProtocolStatic = 4;

    public const uint MaxVni = VxlanSpec.MaxVni;
}
