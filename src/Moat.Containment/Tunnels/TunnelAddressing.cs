using System.Net;

namespace Moat.Containment.Tunnels;

/// <summary>
/// The names and link addresses both ends of a sandbox tunnel derive from its VXLAN id, so the host and the client
/// agree without another exchange: a /30 inside 169.254.0.0/16 (link-local: never routed beyond the tunnel).
/// </summary>
public static class TunnelAddressing
{
    /// <summary>How many distinct /30 links 169.254.0.0/16 holds; VXLAN ids that are equal modulo this share a link prefix.</summary>
    public const int LinkSlots = 16_384;

    /// <summary>The host end's address on the tunnel link (169.254.a.b+1).</summary>
    public static IPAddress HostLinkAddress(uint vni) => Slot(vni, 1);

    /// <summary>The client end's address on the tunnel link (169.254.a.b+2): the sandbox's default gateway.</summary>
    public static IPAddress ClientLinkAddress(uint vni) => Slot(vni, 2);

    public const int LinkPrefixLength = 30;

    /// <summary>The host's tunnel interface for a sandbox: "mt" + the sandbox id, beside its veth "mh" + id.</summary>
    public static string HostInterface(string sandboxId) => "mt" + sandboxId;

    /// <summary>The client's tunnel interface: "mc" + the VXLAN id.</summary>
    public static string ClientInterface(uint vni) => "mc" + vni.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The client's nftables table (forward filter and NAT) for one tunnel.</summary>
    public static string ClientTable(uint vni) => "moat_client_" + vni.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal static int SlotOf(uint vni) => (int)(vni % LinkSlots);

    private static IPAddress Slot(uint vni, int host)
    {
        var offset = (SlotOf(vni) * 4) + host;
        return new IPAddress([169, 254, (byte)(offset >> 8), (byte)offset]);
    }
}
