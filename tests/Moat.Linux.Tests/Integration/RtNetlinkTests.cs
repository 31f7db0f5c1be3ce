using System.Net;
using System.Net.NetworkInformation;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Linux.Tests.Integration;

/// <summary>Each test works inside two namespaces of its own ("a", where the socket lives, and "b").</summary>
[Trait("Category", "Integration")]
public sealed class RtNetlinkTests : IDisposable
{
    private readonly string _a = TestNames.Unique("a");
    private readonly string _b = TestNames.Unique("b");
    private readonly NetworkNamespace _nsA;
    private readonly NetworkNamespace _nsB;
    private readonly RtNetlink _netlink;

    public RtNetlinkTests()
    {
        _nsA = NetworkNamespace.Create(_a);
        _nsB = NetworkNamespace.Create(_b);
        _netlink = RtNetlink.OpenIn(_nsA);
    }

    public void Dispose()
    {
        _netlink.Dispose();
        _nsA.Dispose();
        _nsB.Dispose();
        NetworkNamespace.Delete(_a);
        NetworkNamespace.Delete(_b);
    }

    [Fact]
    public void CreateVeth_PeerIsBornInTheOtherNamespaceWithNameMtuAndMac()
    {
        var mac = PhysicalAddress.Parse("02-00-5E-10-00-01");
        _netlink.CreateVeth(new VethSpec("here0", "there0", _nsB) { Mtu = 1400, PeerMac = mac });

        var here = Tool.Links(_a)["here0"];
        Assert.Equal(1400, here.GetProperty("mtu").GetInt32());
        Assert.Equal("veth", here.GetProperty("linkinfo").GetProperty("info_kind").GetString());
        var there = Tool.Links(_b)["there0"];
        Assert.Equal("02:00:5e:10:00:01", there.GetProperty("address").GetString());
        Assert.Equal(1400, there.GetProperty("mtu").GetInt32());
        Assert.DoesNotContain("there0", Tool.Links(_a).Keys);

        var listed = Assert.Single(_netlink.ListLinks(), l => l.Name == "here0");
        Assert.Equal("veth", listed.Kind);
        Assert.NotNull(listed.PeerNetnsId);
        Assert.Equal(there.GetProperty("ifindex").GetInt32(), listed.PeerIndex);
    }

    [Fact]
    public void Batch_UpRenameMtuAddressesAndRoutes_AreAllVisibleToIp()
    {
        _netlink.CreateVeth(new VethSpec("x0", "x1"));
        var index = _netlink.GetLinkIndex("x0")!.Value;
        _netlink.Execute(new NetlinkBatch().RenameLink(index, "renamed0").SetMtu(index, 1280));
        Assert.Null(_netlink.GetLinkIndex("x0"));
        Assert.Equal(index, _netlink.GetLinkIndex("renamed0"));

        _netlink.Execute(new NetlinkBatch()
            .SetLinkUp(index)
            .SetLinkUp("x1")
            .AddAddress(index, IPAddress.Parse("198.19.250.65"), 26)
            .AddAddress(index, IPAddress.Parse("2001:db8::1"), 64)
            .AddRoute(new RouteSpec(IPNetwork.Parse("198.19.250.128/26"), index) { Gateway = IPAddress.Parse("198.19.250.66"), Metric = 7 })
            .AddRoute(new RouteSpec(IPNetwork.Parse("198.19.250.192/27"), index) { Scope = RouteScope.Link, Table = 1000 })
            .AddRoute(new RouteSpec(IPNetwork.Parse("2001:db8:1::/48"), index) { Gateway = IPAddress.Parse("2001:db8::2") }));

        var link = Tool.Links(_a)["renamed0"];
        Assert.Equal(1280, link.GetProperty("mtu").GetInt32());
        Assert.Contains("UP", link.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["198.19.250.65/26"], Tool.Addresses(_a, "renamed0"));
        var v6 = Tool.IpJson("-n", _a, "-6", "addr", "show", "dev", "renamed0").EnumerateArray()
            .SelectMany(l => l.GetProperty("addr_info").EnumerateArray()).Select(a => a.GetProperty("local").GetString());
        Assert.Contains("2001:db8::1", v6);
        var routes = Tool.Routes(_a);
        var viaGateway = Assert.Single(routes, r => r.GetProperty("dst").GetString() == "198.19.250.128/26");
        Assert.Equal("198.19.250.66", viaGateway.GetProperty("gateway").GetString());
        Assert.Equal(7, viaGateway.GetProperty("metric").GetInt32());
        var inTable = Assert.Single(routes, r => r.GetProperty("dst").GetString() == "198.19.250.192/27");
        Assert.Equal("1000", inTable.GetProperty("table").GetString());
        Assert.Equal("link", inTable.GetProperty("scope").GetString());
        var v6Route = Assert.Single(Tool.Routes(_a, "-6"), r => r.GetProperty("dst").GetString() == "2001:db8:1::/48");
        Assert.Equal("2001:db8::2", v6Route.GetProperty("gateway").GetString());

        // The dumps read back what was asked, in the form the delete calls take.
        Assert.Contains(new AddressInfo(index, IPAddress.Parse("198.19.250.65"), 26, RouteScope.Universe), _netlink.ListAddresses());
        var listed = _netlink.ListRoutes();
        Assert.Contains(new RouteSpec(IPNetwork.Parse("198.19.250.128/26"), index) { Gateway = IPAddress.Parse("198.19.250.66"), Metric = 7 }, listed);
        Assert.Contains(new RouteSpec(IPNetwork.Parse("198.19.250.192/27"), index) { Scope = RouteScope.Link, Table = 1000 }, listed);
        Assert.Equal(routes.Length, listed.Count(r => r.Destination.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));

        _netlink.ReplaceRoute(new RouteSpec(IPNetwork.Parse("198.19.250.128/26"), index) { Gateway = IPAddress.Parse("198.19.250.67"), Metric = 7 });
        Assert.Equal("198.19.250.67", Assert.Single(Tool.Routes(_a), r => r.GetProperty("dst").GetString() == "198.19.250.128/26").GetProperty("gateway").GetString());
        Assert.True(_netlink.DeleteRoute(new RouteSpec(IPNetwork.Parse("198.19.250.128/26"), index) { Metric = 7 }));
        Assert.False(_netlink.DeleteRoute(new RouteSpec(IPNetwork.Parse("198.19.250.128/26"), index) { Metric = 7 }));
        Assert.True(_netlink.DeleteAddress(index, IPAddress.Parse("198.19.250.65"), 26));
        Assert.False(_netlink.DeleteAddress(index, IPAddress.Parse("198.19.250.65"), 26));
        Assert.Empty(Tool.Addresses(_a, "renamed0"));

        _netlink.SetLinkDown("renamed0");
        Assert.DoesNotContain("UP", Tool.Links(_a)["renamed0"].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
    }

    [Fact]
    public void CreateVeth_NameInUse_ThrowsEexistWithTheKernelsWords()
    {
        _netlink.CreateVeth(new VethSpec("dup0", "dup1"));
        var error = Assert.Throws<NetlinkException>(() => _netlink.CreateVeth(new VethSpec("dup0", "dup2")));
        Assert.Equal(Errno.EEXIST, error.Errno);
        Assert.Contains("dup0", error.Message);
        Assert.DoesNotContain("dup2", Tool.Links(_a).Keys);
    }

    [Fact]
    public void Batch_FailureInTheMiddle_ReportsThatRequestAndStillRunsTheOthers()
    {
        _netlink.CreateVeth(new VethSpec("m0", "m1"));
        var error = Assert.Throws<NetlinkException>(() => _netlink.Execute(new NetlinkBatch()
            .SetLinkUp("m0")
            .SetLinkUp("nosuchlink")
            .SetLinkUp("m1")));
        Assert.Equal(Errno.ENODEV, error.Errno);
        Assert.Contains("nosuchlink", error.Message);
        Assert.Contains("UP", Tool.Links(_a)["m1"].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
    }

    [Fact]
    public void Errors_AreMappedToTypedErrnos()
    {
        Assert.False(_netlink.DeleteLink("nosuchlink"));
        Assert.False(_netlink.DeleteLink(9999));
        Assert.Null(_netlink.GetLinkIndex("nosuchlink"));
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => _netlink.AddAddress(9999, IPAddress.Parse("198.19.250.1"), 32)).Errno);

        // A gateway that no prefix covers is refused unless the route says onlink (and, the kernel adds, lo is up).
        _netlink.CreateVeth(new VethSpec("g0", "g1") { Up = true });
        _netlink.SetLinkUp("lo");
        var index = _netlink.GetLinkIndex("g0")!.Value;
        var unreachable = Assert.Throws<NetlinkException>(() => _netlink.AddRoute(
            new RouteSpec(new IPNetwork(IPAddress.Any, 0), index) { Gateway = IPAddress.Parse("169.254.1.1") }));
        Assert.Equal(101, unreachable.Errno); // ENETUNREACH
        Assert.NotNull(unreachable.KernelMessage);
        _netlink.AddRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), index) { Gateway = IPAddress.Parse("169.254.1.1"), OnLink = true });
    }

    [Fact]
    public void DeleteLink_Veth_RemovesBothEndsBeforeReturning()
    {
        _netlink.CreateVeth(new VethSpec("d0", "d1", _nsB));
        Assert.True(_netlink.DeleteLink("d0"));
        Assert.DoesNotContain("d0", Tool.Links(_a).Keys);
        Assert.DoesNotContain("d1", Tool.Links(_b).Keys);
    }
}
