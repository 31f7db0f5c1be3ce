using System.Net;
using Moat.Linux.Netlink;

namespace Moat.Linux.Tests.Netlink;

/// <summary>
/// Expected bytes are written out by hand from the kernel's UAPI headers: struct nlmsghdr (netlink.h), ifinfomsg,
/// ifaddrmsg, rtmsg (rtnetlink.h, if_addr.h), struct rtattr with RTA_ALIGNTO 4, IFLA_* (if_link.h), VETH_INFO_PEER (veth.h).
/// </summary>
public sealed class NetlinkBatchEncodingTests
{
    [Fact]
    public void SetLinkUp_ByIndex_IsHeaderPlusIfInfoMsgWithUpInFlagsAndChange()
    {
        var batch = new NetlinkBatch().SetLinkUp(7);
        batch.Stamp(42);
        byte[] expected =
        [
            32, 0, 0, 0,     // nlmsg_len = 16 + sizeof(ifinfomsg) 16
            16, 0,           // RTM_NEWLINK
            0x05, 0,         // NLM_F_REQUEST | NLM_F_ACK
            42, 0, 0, 0,     // nlmsg_seq
            0, 0, 0, 0,      // nlmsg_pid
            0, 0, 0, 0,      // ifi_family AF_UNSPEC, pad, ifi_type
            7, 0, 0, 0,      // ifi_index
            1, 0, 0, 0,      // ifi_flags IFF_UP
            1, 0, 0, 0,      // ifi_change IFF_UP
        ];
        Assert.Equal(expected, batch.Writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void AddVeth_NestsPeerIfInfoMsgAndNameInsideLinkInfoData()
    {
        var batch = new NetlinkBatch().AddVeth(new VethSpec("v1", "p1"));
        byte[] expected =
        [
            88, 0, 0, 0, 16, 0, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, // RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE = 0x605
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,         // ifinfomsg, all zero
            7, 0, 3, 0, (byte)'v', (byte)'1', 0, 0,                   // IFLA_IFNAME "v1\0", rta_len 7, padded to 8
            48, 0, 18, 0,                                             // IFLA_LINKINFO, 4 + 12 + 32
            9, 0, 1, 0, (byte)'v', (byte)'e', (byte)'t', (byte)'h', 0, 0, 0, 0, // IFLA_INFO_KIND "veth\0", padded to 12
            32, 0, 2, 0,                                              // IFLA_INFO_DATA, 4 + 28
            28, 0, 1, 0,                                              // VETH_INFO_PEER, 4 + 16 + 8
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,         // the peer's ifinfomsg
            7, 0, 3, 0, (byte)'p', (byte)'1', 0, 0,                   // the peer's IFLA_IFNAME
        ];
        Assert.Equal(expected, batch.Writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void AddRoute_DefaultViaOnlinkGateway_HasNoDestinationAttributeAndTheOnlinkFlag()
    {
        var batch = new NetlinkBatch().AddRoute(
            new RouteSpec(new IPNetwork(IPAddress.Any, 0), 5) { Gateway = IPAddress.Parse("169.254.1.1"), OnLink = true });
        byte[] expected =
        [
            52, 0, 0, 0, 24, 0, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, // RTM_NEWROUTE
            2, 0, 0, 0, 254, 4, 0, 1,                                 // AF_INET, dst_len 0, src 0, tos 0, main, RTPROT_STATIC, universe, RTN_UNICAST
            4, 0, 0, 0,                                               // rtm_flags RTNH_F_ONLINK
            8, 0, 15, 0, 254, 0, 0, 0,                                // RTA_TABLE 254
            8, 0, 5, 0, 169, 254, 1, 1,                               // RTA_GATEWAY, network byte order
            8, 0, 4, 0, 5, 0, 0, 0,                                   // RTA_OIF 5
        ];
        Assert.Equal(expected, batch.Writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void AddAddress_Ipv4_CarriesLocalAndAddress()
    {
        var batch = new NetlinkBatch().AddAddress(3, IPAddress.Parse("198.19.250.10"), 32);
        byte[] expected =
        [
            40, 0, 0, 0, 20, 0, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, // RTM_NEWADDR
            2, 32, 0, 0, 3, 0, 0, 0,                                  // ifaddrmsg: AF_INET, /32, flags, scope, index 3
            8, 0, 2, 0, 198, 19, 250, 10,                             // IFA_LOCAL
            8, 0, 1, 0, 198, 19, 250, 10,                             // IFA_ADDRESS
        ];
        Assert.Equal(expected, batch.Writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void SetIpv4Settings_NestsAfSpecInetConf()
    {
        var batch = new NetlinkBatch().SetIpv4Settings(9, (Ipv4DeviceSetting.ProxyArp, 1u));
        byte[] expected =
        [
            52, 0, 0, 0, 16, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,         // ifinfomsg, index 9
            20, 0, 26, 0,                                             // IFLA_AF_SPEC
            16, 0, 2, 0,                                              // AF_INET
            12, 0, 1, 0,                                              // IFLA_INET_CONF
            8, 0, 3, 0, 1, 0, 0, 0,                                   // IPV4_DEVCONF_PROXY_ARP = 1
        ];
        Assert.Equal(expected, batch.Writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Stamp_NumbersEachRequestOfABatchInOrder()
    {
        var batch = new NetlinkBatch().SetLinkUp(1).SetLinkDown(2).DeleteLink(3);
        batch.Stamp(100);
        var sequences = new List<uint>();
        foreach (var message in new NetlinkMessageEnumerator(batch.Writer.WrittenSpan))
        {
            sequences.Add(message.Sequence);
        }

        Assert.Equal([100u, 101u, 102u], sequences);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sixteen-bytes-xx")]
    [InlineData("a/b")]
    [InlineData("a b")]
    public void InterfaceName_Invalid_ThrowsArgumentExceptionNamingIt(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => new NetlinkBatch().SetLinkUp(name));
        Assert.Contains($"'{name}'", error.Message);
    }

    [Fact]
    public void InterfaceName_FifteenBytes_IsAccepted()
    {
        Assert.Equal(1, new NetlinkBatch().SetLinkUp("fifteen-bytes-x").Count);
    }
}
