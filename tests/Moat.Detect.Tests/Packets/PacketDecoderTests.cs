using System.Buffers.Binary;
using System.Net;
using Moat.Detect.Capture;
using Moat.Detect.Packets;

namespace Moat.Detect.Tests.Packets;

public sealed class PacketDecoderTests
{
    [Fact]
    public void Ethernet_WithVlanAndIpv4Options_DecodesTcpFlagsWindowAndPayload()
    {
        var ip = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 6, PacketBuilder.TcpHeader(40000, 443, TcpFlags.Syn | TcpFlags.Ack, window: 5840, payload: 7), options: [1, 1, 1, 0]);
        var frame = PacketBuilder.Ethernet(0x0800, ip, vlan: 42);

        var packet = PacketDecoder.Decode(LinkType.Ethernet, frame);

        Assert.NotNull(packet);
        Assert.Equal(42, packet.VlanId);
        Assert.Equal(IPAddress.Parse("198.19.252.1"), packet.Source);
        Assert.Equal(IPAddress.Parse("198.19.252.2"), packet.Destination);
        Assert.Equal(TransportProtocol.Tcp, packet.Protocol);
        Assert.Equal(40000, packet.SourcePort);
        Assert.Equal(443, packet.DestinationPort);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, packet.Flags);
        Assert.Equal(5840, packet.Window);
        Assert.Equal(7, packet.ApplicationLength);
        Assert.False(packet.IsFragment);
    }

    [Fact]
    public void Ipv4_LaterFragment_IsFlaggedAndHasNoPorts()
    {
        var ip = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 17, new byte[16], fragment: 0x0003);

        var packet = PacketDecoder.Decode(LinkType.Raw, ip);

        Assert.NotNull(packet);
        Assert.True(packet.IsFragment);
        Assert.Equal(0, packet.SourcePort);
    }

    [Fact]
    public void Ipv4_FirstFragment_IsFlaggedAndKeepsPorts()
    {
        var ip = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 17, PacketBuilder.UdpHeader(53, 5353, 8), fragment: 0x2000);

        var packet = PacketDecoder.Decode(LinkType.Ipv4, ip);

        Assert.NotNull(packet);
        Assert.True(packet.IsFragment);
        Assert.Equal(53, packet.SourcePort);
    }

    [Fact]
    public void Ipv6_WithHopByHopAndFragmentHeaders_ReachesUdp()
    {
        var udp = PacketBuilder.UdpHeader(5000, 53, 4);
        byte[] fragmentHeader = [17, 0, 0, 0, 0, 0, 0, 1]; // next = UDP, offset 0, M = 0
        byte[] hopByHop = [44, 0, 1, 4, 0, 0, 0, 0]; // next = fragment, length 8, PadN
        var ip = PacketBuilder.Ipv6("fd00::1", "fd00::2", 0, [.. hopByHop, .. fragmentHeader, .. udp]);

        var packet = PacketDecoder.Decode(LinkType.Ethernet, PacketBuilder.Ethernet(0x86DD, ip));

        Assert.NotNull(packet);
        Assert.Equal(TransportProtocol.Udp, packet.Protocol);
        Assert.Equal(5000, packet.SourcePort);
        Assert.Equal(53, packet.DestinationPort);
        Assert.Equal(4, packet.ApplicationLength);
        Assert.True(packet.IsFragment);
    }

    [Fact]
    public void IcmpUnreachable_QuotingTcp_ExposesTheQuotedFlow()
    {
        var quotedTcp = PacketBuilder.TcpHeader(40000, 23, TcpFlags.Syn)[..8];
        var quotedIp = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.9", 6, quotedTcp);
        byte[] icmp = [3, 3, 0, 0, 0, 0, 0, 0, .. quotedIp];
        var ip = PacketBuilder.Ipv4("198.19.252.9", "198.19.252.1", 1, icmp);

        var packet = PacketDecoder.Decode(LinkType.Raw, ip);

        Assert.NotNull(packet);
        Assert.True(packet.IsIcmpUnreachable);
        Assert.NotNull(packet.Quoted);
        Assert.Equal(IPAddress.Parse("198.19.252.1"), packet.Quoted.Source);
        Assert.Equal(23, packet.Quoted.DestinationPort);
    }

    [Fact]
    public void LinuxSll_Sll2_Null_AndLoop_AllReachIpv4()
    {
        var ip = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 17, PacketBuilder.UdpHeader(1, 2));
        var sll = new byte[16];
        BinaryPrimitives.WriteUInt16BigEndian(sll.AsSpan(14), 0x0800);
        var sll2 = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(sll2, 0x0800);
        byte[] nullLittle = [2, 0, 0, 0];
        byte[] nullBig = [0, 0, 0, 2];
        byte[] loop = [0, 0, 0, 2];

        Assert.Equal(2, PacketDecoder.Decode(LinkType.LinuxSll, [.. sll, .. ip])?.DestinationPort);
        Assert.Equal(2, PacketDecoder.Decode(LinkType.LinuxSll2, [.. sll2, .. ip])?.DestinationPort);
        Assert.Equal(2, PacketDecoder.Decode(LinkType.Null, [.. nullLittle, .. ip])?.DestinationPort);
        Assert.Equal(2, PacketDecoder.Decode(LinkType.Null, [.. nullBig, .. ip])?.DestinationPort);
        Assert.Equal(2, PacketDecoder.Decode(LinkType.Loop, [.. loop, .. ip])?.DestinationPort);
    }

    [Fact]
    public void Ipv4_TotalLengthZeroFromOffload_UsesTheCapturedLength()
    {
        var ip = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 6, PacketBuilder.TcpHeader(1, 2, TcpFlags.Ack, payload: 30));
        ip[2] = 0;
        ip[3] = 0;

        var packet = PacketDecoder.Decode(LinkType.Raw, ip);

        Assert.NotNull(packet);
        Assert.Equal(30, packet.ApplicationLength);
    }

    [Fact]
    public void TruncatedHeaders_AreNotDecoded()
    {
        var frame = PacketBuilder.Tcp("198.19.252.1", 1, "198.19.252.2", 2, TcpFlags.Syn);

        Assert.Null(PacketDecoder.Decode(LinkType.Ethernet, frame.AsSpan(0, 13)));
        Assert.Null(PacketDecoder.Decode(LinkType.Ethernet, frame.AsSpan(0, 14 + 19)));
        Assert.Null(PacketDecoder.Decode(LinkType.Ethernet, PacketBuilder.Ethernet(0x0806, new byte[28])));
    }
}
