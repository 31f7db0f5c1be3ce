using System.Net;

namespace Moat.Linux.Netlink;

/// <summary>rtm_scope values: how far a route's destination is (RT_SCOPE_* in rtnetlink.h).</summary>
public enum RouteScope : byte
{
    Universe = 0,
    Site = 200,
    Link = 253,
    Host = 254,
    Nowhere = 255,
}

/// <summary>rtm_protocol values: who installed a route (RTPROT_* in rtnetlink.h).</summary>
public enum RouteProtocol : byte
{
    Unspecified = 0,
    Kernel = 2,
    Boot = 3,
    Static = 4,
}

/// <summary>One route to add, replace or delete: destination prefix, device, gateway and where it lives.</summary>
/// <param name="Destination">The destination prefix, e.g. 169.254.1.1/32 or 0.0.0.0/0 for the default route.</param>
/// <param name="InterfaceIndex">The output device's index (RTA_OIF), or null for none.</param>
public sealed record RouteSpec(IPNetwork Destination, int? InterfaceIndex = null)
{
    /// <summary>The next hop (RTA_GATEWAY), or null for a directly connected destination.</summary>
    public IPAddress? Gateway { get; init; }

    /// <summary>Treat the gateway as reachable on the device even though no prefix covers it (RTNH_F_ONLINK).</summary>
    public bool OnLink { get; init; }

    public RouteScope Scope { get; init; } = RouteScope.Universe;

    /// <summary>The routing table; 254 is "main".</summary>
    public uint Table { get; init; } = 254;

    public RouteProtocol Protocol { get; init; } = RouteProtocol.Static;

    /// <summary>RTA_PRIORITY (the metric), or null for the kernel's default.</summary>
    public uint? Metric { get; init; }
}

/// <summary>The IPv4 per-interface settings that rtnetlink can set (IPV4_DEVCONF_* in linux/ip.h).</summary>
public enum Ipv4DeviceSetting : ushort
{
    Forwarding = 1,
    McForwarding = 2,
    ProxyArp = 3,
    AcceptRedirects = 4,
    SecureRedirects = 5,
    SendRedirects = 6,
    SharedMedia = 7,
    RpFilter = 8,
    AcceptSourceRoute = 9,
    ArpFilter = 13,
    ArpIgnore = 19,
    ArpAccept = 21,
    AcceptLocal = 23,
    ProxyArpPvlan = 25,
    RouteLocalnet = 26,
    DropGratuitousArp = 31,
    BcForwarding = 32,
}
