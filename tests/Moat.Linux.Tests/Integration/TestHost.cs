using System.Net;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Linux.Tests.Integration;

/// <summary>
/// A stand-in for the host's root namespace: its own netns with a veth "uplink" holding 198.19.250.1/32 and a
/// default route, so the sandbox plumbing can be tested end to end without touching the machine's network.
/// </summary>
internal sealed class TestHost : IDisposable
{
    public static readonly IPAddress HostAddress = IPAddress.Parse("198.19.250.1");

    public TestHost(bool withUplink = true)
    {
        Name = TestNames.Unique("h");
        Namespace = NetworkNamespace.Create(Name);
        try
        {
            Netlink = RtNetlink.OpenIn(Namespace);
            if (!withUplink)
            {
                Netlink.SetLinkUp("lo");
                return;
            }

            // This kernel has no dummy driver: a veth pair whose far end stays in the namespace stands in for the uplink.
            Netlink.Execute(new NetlinkBatch().AddVeth(new VethSpec("uplink", "uplinkfar") { Up = true }).SetLinkUp("uplinkfar").SetLinkUp("lo"));
            var uplink = Netlink.GetLinkIndex("uplink")!.Value;
            Netlink.Execute(new NetlinkBatch()
                .AddAddress(uplink, HostAddress, 32)
                .AddRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), uplink) { Scope = RouteScope.Link }));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }

    public NetworkNamespace Namespace { get; }

    public RtNetlink Netlink { get; } = null!;

    public void Dispose()
    {
        Netlink?.Dispose();
        Namespace.Dispose();
        NetworkNamespace.Delete(Name);
    }
}
