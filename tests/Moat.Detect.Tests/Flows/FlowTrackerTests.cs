using Moat.Detect.Capture;
using Moat.Detect.Flows;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Packets;

namespace Moat.Detect.Tests.Flows;

public sealed class FlowTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);
    private readonly FlowTracker _tracker = new(new FlowTrackerOptions { EmitPackets = false });
    private readonly List<FlowEvent> _events = [];

    [Fact]
    public void SynThenSynAck_IsAttemptThenEstablished()
    {
        Feed(0, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 80, TcpFlags.Syn));
        Feed(0.001, PacketBuilder.Tcp("198.19.252.2", 80, "198.19.252.1", 40000, TcpFlags.Syn | TcpFlags.Ack));
        Feed(0.002, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 80, TcpFlags.Ack | TcpFlags.Psh, payload: 100));
        Feed(0.003, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 80, TcpFlags.Fin | TcpFlags.Ack));
        _tracker.Flush(_events);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Established, FlowEventKind.Closed], _events.Select(e => e.Kind));
        Assert.All(_events, e => Assert.Equal("198.19.252.1", e.Source.ToString()));
        Assert.Equal(100, _events[2].Bytes);
    }

    [Fact]
    public void SynThenRst_IsRefused()
    {
        Feed(0, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 23, TcpFlags.Syn));
        Feed(0.001, PacketBuilder.Tcp("198.19.252.2", 23, "198.19.252.1", 40000, TcpFlags.Rst | TcpFlags.Ack));
        _tracker.Flush(_events);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Refused], _events.Select(e => e.Kind));
    }

    [Fact]
    public void UnansweredSyn_TimesOutWhenTheClockPassesTheDeadline_NotBefore()
    {
        Feed(0, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 23, TcpFlags.Syn));
        Feed(4.9, PacketBuilder.Udp("198.19.252.3", 1, "198.19.252.4", 2));
        Assert.DoesNotContain(_events, e => e.Kind == FlowEventKind.TimedOut);

        Feed(5.0, PacketBuilder.Udp("198.19.252.3", 1, "198.19.252.4", 2));

        var timedOut = Assert.Single(_events, e => e.Kind == FlowEventKind.TimedOut);
        Assert.Equal(23, timedOut.DestinationPort);
    }

    [Fact]
    public void IcmpUnreachable_ForAnAttempt_IsRefused()
    {
        Feed(0, PacketBuilder.Udp("198.19.252.1", 5000, "198.19.252.2", 161));
        var quoted = PacketBuilder.Ipv4("198.19.252.1", "198.19.252.2", 17, PacketBuilder.UdpHeader(5000, 161));
        byte[] icmp = [3, 3, 0, 0, 0, 0, 0, 0, .. quoted];
        Feed(0.001, PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4("198.19.252.2", "198.19.252.1", 1, icmp)));

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Refused], _events.Select(e => e.Kind));
    }

    [Fact]
    public void UnsolicitedSynAck_Backscatter_IsNeverAnAttempt()
    {
        Feed(0, PacketBuilder.Tcp("198.19.252.2", 80, "198.19.252.1", 2155, TcpFlags.Syn | TcpFlags.Ack));
        Feed(0.001, PacketBuilder.Tcp("198.19.252.1", 2155, "198.19.252.2", 80, TcpFlags.Rst));
        _tracker.Flush(_events);

        Assert.Empty(_events);
    }

    [Fact]
    public void RetransmittedSyn_AfterTimeout_IsNotASecondAttempt()
    {
        Feed(0, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 445, TcpFlags.Syn));
        Feed(6, PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 445, TcpFlags.Syn));
        _tracker.Flush(_events);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.TimedOut], _events.Select(e => e.Kind));
    }

    [Fact]
    public void TcpHeaderCutBySnapLength_ProducesNoEventsAtAll()
    {
        var tracker = new FlowTracker();
        var frame = PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 80, TcpFlags.Syn)[..(14 + 20 + 12)];
        var packet = PacketDecoder.Decode(LinkType.Ethernet, frame)!;

        tracker.Process(T0, packet, _events);
        tracker.Flush(_events);

        Assert.False(packet.HasTransportHeader);
        Assert.Empty(_events);
    }

    private void Feed(double seconds, byte[] frame)
    {
        var packet = PacketDecoder.Decode(LinkType.Ethernet, frame) ?? throw new InvalidOperationException("test frame did not decode");
        _tracker.Process(T0.AddSeconds(seconds), packet, _events);
    }
}
