using Moat.Detect.Capture;
using Moat.Detect.Flows;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Packets;

namespace Moat.Detect.Tests.Flows;

/// <summary>Which packets open a contact, what probe they are, and how each outcome is reported.</summary>
public sealed class ProbeTests
{
    private const string Scanner = "198.18.73.1";
    private const string Target = "198.18.73.2";
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 4, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(TcpFlags.Fin, ScanProbe.Fin)]
    [InlineData(TcpFlags.None, ScanProbe.Null)]
    [InlineData(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Urg, ScanProbe.Xmas)]
    [InlineData(TcpFlags.Ack, ScanProbe.Ack)]
    [InlineData(TcpFlags.Urg, ScanProbe.OtherTcp)]
    public void TcpPacketWithNoConnection_AnsweredByRst_IsARefusedProbe(TcpFlags flags, ScanProbe probe)
    {
        var events = Run(
            PacketBuilder.Tcp(Scanner, 50000, Target, 81, flags),
            PacketBuilder.Tcp(Target, 81, Scanner, 50000, TcpFlags.Rst));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Refused], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal(probe, e.Probe));
    }

    [Fact]
    public void ProbeUnanswered_TimesOutAsAFailure()
    {
        var events = Run(PacketBuilder.Tcp(Scanner, 50000, Target, 81, TcpFlags.Fin));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.TimedOut], events.Select(e => e.Kind));
    }

    [Fact]
    public void BareAckAnsweredByData_IsAConnectionSeenMidstream_NotAFailure()
    {
        var events = Run(
            PacketBuilder.Tcp(Scanner, 50000, Target, 443, TcpFlags.Ack),
            PacketBuilder.Tcp(Target, 443, Scanner, 50000, TcpFlags.Ack | TcpFlags.Psh, payload: 100));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Established], events.Select(e => e.Kind));
    }

    [Theory]
    [InlineData(TcpFlags.Ack | TcpFlags.Psh, 100)]
    [InlineData(TcpFlags.Ack | TcpFlags.Fin, 0)]
    [InlineData(TcpFlags.Ack, 10)]
    public void MidstreamSegments_OpenNoContact(TcpFlags flags, int payload)
    {
        var events = Run(PacketBuilder.Tcp(Scanner, 50000, Target, 443, flags, payload));

        Assert.Empty(events);
    }

    [Theory]
    [InlineData("224.0.0.251")]
    [InlineData("239.255.255.250")]
    [InlineData("255.255.255.255")]
    public void UdpToAGroupAddress_OpensNoContact(string group)
    {
        var events = Run(PacketBuilder.Udp(Scanner, 5353, group, 5353, payload: 20));

        Assert.Empty(events);
    }

    [Fact]
    public void OtherProtocol_IsAProtocolProbe_AnsweredBySameProtocolIsEstablished()
    {
        var events = Run(
            PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4(Scanner, Target, 47, new byte[8])),
            PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4(Target, Scanner, 47, new byte[8])));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Established], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal((ScanProbe.Protocol, (byte)47), (e.Probe, e.IpProtocol)));
    }

    [Fact]
    public void UdpProbe_RefusedByTheTargetsPortUnreachable()
    {
        var probe = PacketBuilder.Udp(Scanner, 40000, Target, 161, payload: 10);
        var icmp = new byte[8 + 28];
        icmp[0] = 3;
        icmp[1] = 3;
        probe.AsSpan(14, 28).CopyTo(icmp.AsSpan(8));
        var events = Run(probe, PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4(Target, Scanner, 1, icmp)));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Refused], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal(ScanProbe.Udp, e.Probe));
    }

    private static List<FlowEvent> Run(params byte[][] frames)
    {
        var tracker = new FlowTracker(FlowTrackerOptions.Default with { EmitPackets = false });
        var events = new List<FlowEvent>();
        for (int i = 0; i < frames.Length; i++)
        {
            var packet = PacketDecoder.Decode(LinkType.Ethernet, frames[i]) ?? throw new InvalidOperationException("test frame did not decode");
            tracker.Process(T0.AddMilliseconds(i), packet, events);
        }

        tracker.Flush(events);
        return events;
    }
}
