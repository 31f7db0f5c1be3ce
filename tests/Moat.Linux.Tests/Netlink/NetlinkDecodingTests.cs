using Moat.Linux.Netlink;

namespace Moat.Linux.Tests.Netlink;

/// <summary>Datagrams written by hand as the kernel lays them out (netlink.h: nlmsgerr, NLM_F_CAPPED, NLMSGERR_ATTR_MSG).</summary>
public sealed class NetlinkDecodingTests
{
    [Fact]
    public void ParseError_CappedAckWithExtendedMessage_ReturnsErrnoAndText()
    {
        byte[] datagram =
        [
            52, 0, 0, 0, 2, 0, 0x00, 0x03, 9, 0, 0, 0, 0, 0, 0, 0,   // NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, seq 9
            0xef, 0xff, 0xff, 0xff,                                   // error = -17 (EEXIST)
            32, 0, 0, 0, 16, 0, 0x05, 0x06, 9, 0, 0, 0, 0, 0, 0, 0,  // the request's header, echoed alone (capped)
            16, 0, 1, 0, (byte)'F', (byte)'i', (byte)'l', (byte)'e', (byte)' ', (byte)'e', (byte)'x', (byte)'i', (byte)'s', (byte)'t', (byte)'s', 0, // NLMSGERR_ATTR_MSG
        ];
        var messages = new NetlinkMessageEnumerator(datagram);
        Assert.True(messages.MoveNext());
        Assert.Equal(9u, messages.Current.Sequence);
        Assert.Equal((17, "File exists"), RtNetlink.ParseError(messages.Current));
        Assert.False(messages.MoveNext());
    }

    [Fact]
    public void ParseError_SuccessAck_ReturnsZero()
    {
        byte[] datagram = [36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 16, 0, 5, 0, 5, 0, 0, 0, 0, 0, 0, 0];
        var messages = new NetlinkMessageEnumerator(datagram);
        Assert.True(messages.MoveNext());
        Assert.Equal((0, (string?)null), RtNetlink.ParseError(messages.Current));
    }

    [Fact]
    public void MessageEnumerator_TwoMessagesBackToBack_YieldsBothAtAlignedOffsets()
    {
        byte[] datagram =
        [
            20, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // NLMSG_DONE, 4-byte payload
            20, 0, 0, 0, 3, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        var sequences = new List<uint>();
        foreach (var message in new NetlinkMessageEnumerator(datagram))
        {
            Assert.Equal(Rtnl.NLMSG_DONE, message.Type);
            Assert.Equal(4, message.Payload.Length);
            sequences.Add(message.Sequence);
        }

        Assert.Equal([1u, 2u], sequences);
    }

    [Fact]
    public void MessageEnumerator_LengthBeyondDatagram_Throws()
    {
        byte[] datagram = [64, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Throws<InvalidDataException>(() =>
        {
            var messages = new NetlinkMessageEnumerator(datagram);
            messages.MoveNext();
        });
    }

    [Fact]
    public void LinkParser_ReadsNameMtuKindPeerAndNetnsIdAndIgnoresTheNestedFlag()
    {
        byte[] payload =
        [
            0, 0, 1, 0, 4, 0, 0, 0, 0x43, 0x10, 0, 0, 0, 0, 0, 0,     // ifinfomsg: ARPHRD_ETHER, index 4, flags 0x1043
            9, 0, 3, 0, (byte)'e', (byte)'t', (byte)'h', (byte)'0', 0, 0, 0, 0, // IFLA_IFNAME "eth0"
            8, 0, 4, 0, 0xdc, 0x05, 0, 0,                              // IFLA_MTU 1500
            8, 0, 5, 0, 11, 0, 0, 0,                                   // IFLA_LINK 11
            16, 0, 0x12, 0x80,                                         // IFLA_LINKINFO | NLA_F_NESTED
            9, 0, 1, 0, (byte)'v', (byte)'e', (byte)'t', (byte)'h', 0, 0, 0, 0, // IFLA_INFO_KIND "veth"
            8, 0, 37, 0, 0, 0, 0, 0,                                   // IFLA_LINK_NETNSID 0
        ];
        var link = LinkParser.Parse(payload);
        Assert.Equal(new LinkInfo("eth0", 4, "veth", 0x1043, 1500, null, 11, 0), link);
        Assert.True(link.IsUp);
    }

    [Fact]
    public void RouteParser_ReadsAnOnlinkDefaultRouteInATableAbove255()
    {
        byte[] payload =
        [
            2, 0, 0, 0, 252, 4, 0, 1, 4, 0, 0, 0,  // rtmsg: AF_INET, /0, table RT_TABLE_COMPAT (252), static, universe, unicast, ONLINK
            8, 0, 15, 0, 0xe8, 0x03, 0, 0,          // RTA_TABLE 1000
            8, 0, 5, 0, 169, 254, 1, 1,             // RTA_GATEWAY
            8, 0, 4, 0, 2, 0, 0, 0,                 // RTA_OIF 2
        ];
        var route = RouteParser.Parse(payload);
        Assert.Equal(
            new RouteSpec(new System.Net.IPNetwork(System.Net.IPAddress.Any, 0), 2) { Gateway = System.Net.IPAddress.Parse("169.254.1.1"), OnLink = true, Table = 1000 },
            route);
    }

    [Fact]
    public void RouteParser_LocalEntry_IsLeftOut()
    {
        byte[] payload = [2, 32, 0, 0, 255, 2, 254, 2, 0, 0, 0, 0]; // RTN_LOCAL in the local table
        Assert.Null(RouteParser.Parse(payload));
    }
}
