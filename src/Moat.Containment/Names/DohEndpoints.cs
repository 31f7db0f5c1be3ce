using System.Net;

namespace Moat.Containment.Names;

/// <summary>
/// Public DNS-over-HTTPS (and DoT) services by address: a sandbox that may reach them on 443 could resolve any name
/// around the host's resolver. Their names are refused by <see cref="EgressNames.DohServices"/>; this list is what
/// the rules refuse by address. It is a known-endpoints list, not a proof: a private DoH server on an address the
/// sandbox may reach is not caught (docs/containment.md).
/// </summary>
public static class DohEndpoints
{
    public static IReadOnlyList<IPNetwork> Addresses { get; } =
        new[]
        {
            "1.1.1.1/32", "1.0.0.1/32", "1.1.1.2/32", "1.0.0.2/32", "1.1.1.3/32", "1.0.0.3/32", // Cloudflare
            "8.8.8.8/32", "8.8.4.4/32", // Google
            "9.9.9.9/32", "149.112.112.112/32", "9.9.9.10/32", "9.9.9.11/32", // Quad9
            "208.67.222.222/32", "208.67.220.220/32", // OpenDNS
            "94.140.14.14/32", "94.140.15.15/32", // AdGuard
            "185.228.168.168/32", "185.228.169.168/32", // CleanBrowsing
            "45.90.28.0/24", "45.90.30.0/24", // NextDNS
            "194.242.2.2/32", // Mullvad
            "223.5.5.5/32", "223.6.6.6/32", // AliDNS
        }.Select(IPNetwork.Parse).ToList();
}
