using System.Net;
using Moat.Linux.Namespaces;
using Moat.Linux.Plumbing;

namespace Moat.Linux.Tests.Integration;

[Trait("Category", "Integration")]
public sealed class SandboxLinkTests : IDisposable
{
    private readonly TestHost _host = new();
    private readonly List<(string Name, string HostInterface)> _made = [];

    public void Dispose()
    {
        foreach (var (name, hostInterface) in _made)
        {
            SandboxLink.Destroy(_host.Netlink, name, hostInterface);
        }

        _host.Dispose();
    }

    [Fact]
    public void Create_SandboxAndHostReachEachOtherByPing()
    {
        var address = IPAddress.Parse("198.19.250.10");
        using var link = Make(l => l.Assign(address));

        // The kernel state is what was asked, read back with ip -j.
        var sandboxLinks = Tool.Links(link.Name);
        Assert.Equal(["eth0", "lo"], sandboxLinks.Keys.Order());
        Assert.All(sandboxLinks.Values, l => Assert.Contains("UP", l.GetProperty("flags").EnumerateArray().Select(f => f.GetString())));
        Assert.Equal("veth", sandboxLinks["eth0"].GetProperty("linkinfo").GetProperty("info_kind").GetString());
        Assert.Equal(["198.19.250.10/32"], Tool.Addresses(link.Name, "eth0"));
        var routes = Tool.Routes(link.Name);
        var gateway = Assert.Single(routes, r => r.GetProperty("dst").GetString() == "169.254.1.1");
        Assert.Equal("eth0", gateway.GetProperty("dev").GetString());
        Assert.Equal("link", gateway.GetProperty("scope").GetString());
        var defaultRoute = Assert.Single(routes, r => r.GetProperty("dst").GetString() == "default");
        Assert.Equal("169.254.1.1", defaultRoute.GetProperty("gateway").GetString());
        Assert.Equal("eth0", defaultRoute.GetProperty("dev").GetString());
        Assert.True(Tool.HasFlag(defaultRoute, "onlink"));

        var hostLinks = Tool.Links(_host.Name);
        Assert.Contains("UP", hostLinks[link.HostInterface].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        var hostRoute = Assert.Single(Tool.Routes(_host.Name), r => r.GetProperty("dst").GetString() == "198.19.250.10");
        Assert.Equal(link.HostInterface, hostRoute.GetProperty("dev").GetString());
        Assert.Equal("link", hostRoute.GetProperty("scope").GetString());
        Assert.Equal("1", Tool.MustRun("ip", "netns", "exec", _host.Name, "cat", $"/proc/sys/net/ipv4/conf/{link.HostInterface}/proxy_arp").Trim());
        Assert.Equal("0", Tool.MustRun("ip", "netns", "exec", _host.Name, "cat", $"/proc/sys/net/ipv4/neigh/{link.HostInterface}/proxy_delay").Trim());

        // Traffic both ways: host -> sandbox, and sandbox -> host through the proxy-ARPed gateway.
        Tool.MustRun("ip", "netns", "exec", _host.Name, "busybox", "ping", "-c", "1", "-W", "5", "198.19.250.10");
        Tool.MustRun("ip", "netns", "exec", link.Name, "busybox", "ping", "-c", "1", "-W", "5", TestHost.HostAddress.ToString());
    }

    [Fact]
    public void Prepare_LeavesTheSandboxWithoutAddressUntilAssign()
    {
        using var link = Make(_ => { });
        Assert.Null(link.Address);
        Assert.Empty(Tool.Addresses(link.Name, "eth0"));
        Assert.DoesNotContain(Tool.Routes(link.Name), r => r.GetProperty("dst").GetString() == "default");

        link.Assign(IPAddress.Parse("198.19.250.11"));
        Assert.Equal(["198.19.250.11/32"], Tool.Addresses(link.Name, "eth0"));
        Assert.Throws<InvalidOperationException>(() => link.Assign(IPAddress.Parse("198.19.250.12")));

        // Asserting the same address again repairs a missing route and leaves the rest as it was.
        Tool.MustRun("ip", "-n", link.Name, "route", "del", "default");
        link.Assign(IPAddress.Parse("198.19.250.11"));
        Assert.Equal(["198.19.250.11/32"], Tool.Addresses(link.Name, "eth0"));
        Assert.Single(Tool.Routes(link.Name), r => r.GetProperty("dst").GetString() == "default");
    }

    [Fact]
    public void Destroy_RemovesLinkAndNamespaceAtOnceSoTheNamesCanBeReused()
    {
        var link = Make(l => l.Assign(IPAddress.Parse("198.19.250.13")));
        var (name, hostInterface) = (link.Name, link.HostInterface);
        link.Destroy();

        Assert.DoesNotContain(hostInterface, Tool.Links(_host.Name).Keys);
        Assert.DoesNotContain(name, Tool.NetnsNames());
        Assert.DoesNotContain(Tool.Routes(_host.Name), r => r.GetProperty("dst").GetString() == "198.19.250.13");

        using var again = SandboxLink.Create(_host.Netlink, name, hostInterface, IPAddress.Parse("198.19.250.13"));
        Assert.Equal(["198.19.250.13/32"], Tool.Addresses(name, "eth0"));
        again.Destroy();
        Assert.False(SandboxLink.Destroy(_host.Netlink, name, hostInterface));
    }

    [Fact]
    public void Prepare_GatewayOnHostWithoutForwarding_StillReachesTheHost()
    {
        // A host namespace with no route to the gateway: only the gateway address on the host end can answer ARP.
        using var bare = new TestHost(withUplink: false);
        var name = TestNames.Unique("s");
        var hostInterface = TestNames.Unique("v");
        var options = SandboxLinkOptions.Default with { Forwarding = false, GatewayOnHost = true };
        using var link = SandboxLink.Create(bare.Netlink, name, hostInterface, IPAddress.Parse("198.19.250.45"), options);
        try
        {
            Assert.Equal("0", Tool.MustRun("ip", "netns", "exec", bare.Name, "cat", $"/proc/sys/net/ipv4/conf/{hostInterface}/forwarding").Trim());
            Assert.Equal(["169.254.1.1/32"], Tool.Addresses(bare.Name, hostInterface));
            Tool.MustRun("ip", "netns", "exec", name, "busybox", "ping", "-c", "1", "-W", "5", "169.254.1.1");
            Tool.MustRun("ip", "netns", "exec", bare.Name, "busybox", "ping", "-c", "1", "-W", "5", "198.19.250.45");
        }
        finally
        {
            link.Destroy();
        }
    }

    [Fact]
    public void Retire_FreesNamesAndAddressAtOnce_AndReapDeletesTheTombstone()
    {
        var address = IPAddress.Parse("198.19.250.40");
        var link = Make(l => l.Assign(address));
        var (name, hostInterface) = (link.Name, link.HostInterface);

        // Held open so the namespace cannot die and take the tombstone with it before the reap.
        using var keepAlive = NetworkNamespace.Open(name);
        link.Retire();

        Assert.DoesNotContain(hostInterface, Tool.Links(_host.Name).Keys);
        Assert.DoesNotContain(name, Tool.NetnsNames());
        Assert.DoesNotContain(Tool.Routes(_host.Name), r => r.GetProperty("dst").GetString() == "198.19.250.40");

        using var again = SandboxLink.Create(_host.Netlink, name, hostInterface, address);
        Tool.MustRun("ip", "netns", "exec", _host.Name, "busybox", "ping", "-c", "1", "-W", "5", "198.19.250.40");

        Assert.Equal(1, SandboxLink.ReapRetired(_host.Netlink));
        var hostLinks = Tool.Links(_host.Name).Keys;
        Assert.DoesNotContain(hostLinks, n => n.StartsWith(SandboxLink.TombstonePrefix, StringComparison.Ordinal));
        Assert.Contains(hostInterface, hostLinks);
        Assert.Equal(0, SandboxLink.ReapRetired(_host.Netlink));
    }

    [Fact]
    public void Attach_FindsWhatAnEarlierObjectMadeAndCanDestroyIt()
    {
        var made = Make(l => l.Assign(IPAddress.Parse("198.19.250.50")));
        made.Dispose(); // as if the agent restarted: the plumbing stays, the object is gone

        using var attached = SandboxLink.Attach(_host.Netlink, made.Name, made.HostInterface);
        Assert.NotNull(attached);
        Assert.Equal(IPAddress.Parse("198.19.250.50"), attached.Address);
        attached.Destroy();
        Assert.DoesNotContain(made.Name, Tool.NetnsNames());
        Assert.Null(SandboxLink.Attach(_host.Netlink, made.Name, made.HostInterface));
    }

    [Fact]
    public void Attach_PreparedButUnassigned_HasNoAddress()
    {
        var made = Make(_ => { });
        made.Dispose();
        using var attached = SandboxLink.Attach(_host.Netlink, made.Name, made.HostInterface);
        Assert.NotNull(attached);
        Assert.Null(attached.Address);
        attached.Assign(IPAddress.Parse("198.19.250.51"));
        Tool.MustRun("ip", "netns", "exec", _host.Name, "busybox", "ping", "-c", "1", "-W", "5", "198.19.250.51");
    }

    [Fact]
    public void DestroyMany_RemovesExactlyTheGivenSandboxesInOneGo()
    {
        var doomed = Enumerable.Range(0, 3).Select(i => Make(l => l.Assign(IPAddress.Parse($"198.19.250.{20 + i}")))).ToList();
        using var survivor = Make(l => l.Assign(IPAddress.Parse("198.19.250.30")));

        SandboxLink.Destroy(_host.Netlink, doomed);

        var hostLinks = Tool.Links(_host.Name).Keys;
        var namespaces = Tool.NetnsNames();
        Assert.All(doomed, l => Assert.DoesNotContain(l.HostInterface, hostLinks));
        Assert.All(doomed, l => Assert.DoesNotContain(l.Name, namespaces));
        Assert.Contains(survivor.HostInterface, hostLinks);
        Assert.Contains(survivor.Name, namespaces);
        Assert.Equal(["198.19.250.30"], Tool.Routes(_host.Name).Select(r => r.GetProperty("dst").GetString()).Where(d => d!.StartsWith("198.19.250.", StringComparison.Ordinal)));
        Tool.MustRun("ip", "netns", "exec", _host.Name, "busybox", "ping", "-c", "1", "-W", "5", "198.19.250.30");

        // Teardown by name tolerates what is already gone.
        SandboxLink.Destroy(_host.Netlink, [.. doomed.Select(l => (l.Name, l.HostInterface))]);
    }

    [Fact]
    public void Prepare_HostInterfaceNameTooLong_ThrowsBeforeCreatingAnything()
    {
        var name = TestNames.Unique("s");
        var error = Assert.Throws<ArgumentException>(() => SandboxLink.Prepare(_host.Netlink, name, "mtl-sixteen-byte"));
        Assert.Contains("'mtl-sixteen-byte'", error.Message);
        Assert.DoesNotContain(name, Tool.NetnsNames());
    }

    [Fact]
    public void Prepare_HostInterfaceAlreadyExists_ThrowsEexistAndCleansUpTheNamespace()
    {
        using var first = Make(_ => { });
        var name = TestNames.Unique("s");
        var error = Assert.Throws<NetlinkException>(() => SandboxLink.Prepare(_host.Netlink, name, first.HostInterface));
        Assert.Equal(Errno.EEXIST, error.Errno);
        Assert.DoesNotContain(name, Tool.NetnsNames());
        // The failed Prepare's cleanup must not take the other sandbox's link, which has the same name, with it.
        Assert.Contains(first.HostInterface, Tool.Links(_host.Name).Keys);
    }

    private SandboxLink Make(Action<SandboxLink> then)
    {
        var name = TestNames.Unique("s");
        var hostInterface = TestNames.Unique("v");
        _made.Add((name, hostInterface));
        var link = SandboxLink.Prepare(_host.Netlink, name, hostInterface);
        then(link);
        return link;
    }
}
