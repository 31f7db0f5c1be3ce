using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Linux.Plumbing;

/// <summary>
/// Makes the host end of a sandbox's veth pair teach the host nothing at layers 2 and 3 beyond the sandbox's own address,
/// whatever the sandbox's tier: its settings are written while the link is down, so there is no moment in which a
/// Router Advertisement, a redirect or a forged ARP sender could be taken in.
/// </summary>
/// <remarks>
/// IPv6 is off on the host end (<c>disable_ipv6</c>): the sandbox network is IPv4, and an IPv6 stack on the host end
/// would take Router Advertisements (a default route and autoconfigured addresses on the host), redirects and a
/// neighbour entry for every Neighbour Solicitation's source. The IPv6 knobs that matter are also turned off first, so
/// that re-enabling IPv6 by hand does not re-open them. IPv4 redirects (taken and sent), source routes, gratuitous ARP
/// and ARP-learned neighbours (<c>arp_accept</c>) are refused. With the gateway on the host and <see
/// cref="SandboxLinkOptions.ArpOnlyFromItsAddress"/>, proxy ARP is off and <c>arp_filter</c> answers (and so learns a
/// neighbour from) only a request whose sender the host routes back through this link: the sandbox's own address.
/// ARP naming any other sender (a neighbour's address, the gateway, a flood of made-up senders to fill the host's
/// neighbour table) teaches the host nothing.
/// </remarks>
internal static class HostEnd
{
    private static readonly string[] Ipv6Off = ["accept_ra", "accept_redirects", "autoconf", "accept_dad", "proxy_ndp"];

    /// <summary>Configures the down link HOSTIF (index <paramref name="index"/>) as described above, then brings it up.</summary>
    public static void ConfigureAndBringUp(RtNetlink host, string hostInterface, int index, SandboxLinkOptions options)
    {
        if (Directory.Exists("/proc/sys/net/ipv6"))
        {
            var settings = Ipv6Off.Select(key => ($"net/ipv6/conf/{hostInterface}/{key}", "0")).ToList();
            settings.Add(($"net/ipv6/conf/{hostInterface}/disable_ipv6", "1"));
            using var ns = host.OpenNamespace();
            Sysctl.Write(ns, settings);
        }

        var filterArp = options.GatewayOnHost && options.ArpOnlyFromItsAddress;
        var batch = new NetlinkBatch().SetIpv4Settings(
            index,
            (Ipv4DeviceSetting.Forwarding, options.Forwarding ? 1u : 0u),
            (Ipv4DeviceSetting.ProxyArp, filterArp ? 0u : 1u),
            (Ipv4DeviceSetting.ArpFilter, filterArp ? 1u : 0u),
            (Ipv4DeviceSetting.ArpAccept, 0u),
            (Ipv4DeviceSetting.DropGratuitousArp, 1u),
            (Ipv4DeviceSetting.ProxyArpPvlan, 0u),
            (Ipv4DeviceSetting.AcceptRedirects, 0u),
            (Ipv4DeviceSetting.SecureRedirects, 0u),
            (Ipv4DeviceSetting.SendRedirects, 0u),
            (Ipv4DeviceSetting.AcceptSourceRoute, 0u),
            (Ipv4DeviceSetting.AcceptLocal, 0u),
            (Ipv4DeviceSetting.RouteLocalnet, 0u),
            (Ipv4DeviceSetting.BcForwarding, 0u));
        if (!filterArp)
        {
            batch.SetArpProxyDelay(index, TimeSpan.Zero);
        }

        if (options.GatewayOnHost)
        {
            batch.AddAddress(index, options.Gateway, 32);
        }

        host.Execute(batch);

        // Alone, after the settings were acknowledged: a batch runs its later requests even when an earlier one failed.
        host.SetLinkUp(index);
    }
}
