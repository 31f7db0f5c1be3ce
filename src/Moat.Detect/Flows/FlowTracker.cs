using System.Net;
using Moat.Detect.Packets;

namespace Moat.Detect.Flows;

/// <summary>
/// Turns decoded packets into flow events offline. Time is the packet timestamps: the tracker's clock is the latest
/// timestamp seen (captures are not always in order), and attempts whose timeout has passed on that clock are
/// reported as <see cref="FlowEventKind.TimedOut"/> before the next packet is handled, oldest deadline first, as
/// Zeek's timer queue does.
/// </summary>
internal sealed class FlowTracker
{
    private readonly FlowTrackerOptions _options;
    private readonly Dictionary<FlowKey, Flow> _flows = [];
    private readonly PriorityQueue<Flow, (DateTimeOffset Deadline, long Sequence)> _deadlines = new();
    private DateTimeOffset _now = DateTimeOffset.MinValue;
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;
    private long _sequence;

    internal FlowTracker(FlowTrackerOptions? options = null)
    {
        _options = options ?? FlowTrackerOptions.Default;
    }

    internal int TrackedFlows => _flows.Count;

    internal void Process(DateTimeOffset timestamp, DecodedPacket packet, List<FlowEvent> output)
    {
        Advance(timestamp, output);
        var proto = packet.Protocol;
        Flow? flow = null;
        bool fromOriginator = true;
        bool transport = proto is TransportProtocol.Tcp or TransportProtocol.Udp;
        if (transport && !packet.HasTransportHeader)
        {
            return; // A later fragment or a header cut by the snap length: no ports, no flags, nothing to say.
        }

        if (transport)
        {
            var key = new FlowKey(packet.Source, packet.SourcePort, packet.Destination, packet.DestinationPort, packet.ProtocolNumber);
            if (_flows.TryGetValue(key, out flow))
            {
                fromOriginator = true;
            }
            else if (_flows.TryGetValue(key.Reversed, out flow))
            {
                fromOriginator = false;
            }
        }

        if (_options.EmitPackets)
        {
            output.Add(new FlowEvent(timestamp, packet.Source, packet.SourcePort, packet.Destination, packet.DestinationPort, proto, FlowEventKind.Packet, packet.ApplicationLength)
            {
                Flags = packet.Flags,
                IsReply = flow is not null && !fromOriginator,
                IpProtocol = packet.ProtocolNumber,
                SmtpRecipients = packet.SmtpRecipients,
                SmtpMessages = packet.SmtpMessages,
            });
        }

        switch (proto)
        {
            case TransportProtocol.Tcp:
                HandleTcp(timestamp, packet, flow, fromOriginator, output);
                break;
            case TransportProtocol.Udp:
                HandleUdp(timestamp, packet, flow, fromOriginator, output);
                break;
            case TransportProtocol.Icmp or TransportProtocol.IcmpV6 when packet.IsIcmpUnreachable && packet.Quoted is { } quoted:
                HandleUnreachable(timestamp, packet, quoted, output);
                break;
            case TransportProtocol.Other when !packet.IsFragment || packet.HasTransportHeader:
                HandleOtherProtocol(timestamp, packet, output);
                break;
            default:
                break;
        }
    }

    /// <summary>Reports every attempt still waiting as timed out, as at the end of a capture.</summary>
    internal void Flush(List<FlowEvent> output)
    {
        while (_deadlines.TryDequeue(out var flow, out var deadline))
        {
            Expire(flow, deadline.Deadline, output);
        }
    }

    private void Advance(DateTimeOffset timestamp, List<FlowEvent> output)
    {
        if (timestamp > _now)
        {
            _now = timestamp;
        }

        while (_deadlines.TryPeek(out _, out var top) && top.Deadline <= _now)
        {
            var flow = _deadlines.Dequeue();
            Expire(flow, top.Deadline, output);
        }

        if (_now >= _nextSweep)
        {
            Sweep();
            _nextSweep = _now + (_options.IdleTimeout / 2);
        }
    }

    private void Expire(Flow flow, DateTimeOffset deadline, List<FlowEvent> output)
    {
        if (flow.State == FlowState.Attempting && flow.Deadline == deadline)
        {
            flow.State = FlowState.Failed;
            output.Add(flow.Event(_now, FlowEventKind.TimedOut));
        }
    }

    private void Sweep()
    {
        var limit = _now - _options.IdleTimeout;
        foreach (var (key, flow) in _flows)
        {
            if (flow.LastSeen < limit && flow.State != FlowState.Attempting)
            {
                _flows.Remove(key);
            }
        }
    }

    private void HandleTcp(DateTimeOffset timestamp, DecodedPacket packet, Flow? flow, bool fromOriginator, List<FlowEvent> output)
    {
        var flags = packet.Flags;
        bool syn = (flags & TcpFlags.Syn) != 0;
        bool ack = (flags & TcpFlags.Ack) != 0;
        bool rst = (flags & TcpFlags.Rst) != 0;
        bool fin = (flags & TcpFlags.Fin) != 0;
        if (flow is null || (fromOriginator && syn && !ack && !rst && flow.State == FlowState.Closed))
        {
            if (syn && !ack && !rst)
            {
                Open(timestamp, packet, ScanProbe.Syn, output);
            }
            else if (syn && ack)
            {
                // An unsolicited SYN-ACK is backscatter from someone else's spoofed SYN: remembered, never an attempt.
                Start(timestamp, Reverse(packet), FlowState.Unsolicited);
            }
            else if (!rst && StealthProbe(flags, packet.ApplicationLength) is { } probe && flow is null)
            {
                // A packet that opens no connection (a lone FIN, an ACK with nothing behind it, NULL, Xmas): a contact
                // that fails when the peer answers RST (closed port) or nothing (filtered, or open for FIN/NULL/Xmas).
                Open(timestamp, packet, probe, output);
            }
            else if (!rst)
            {
                Start(timestamp, packet, FlowState.Midstream);
            }

            return;
        }

        flow.LastSeen = timestamp;
        flow.Bytes += packet.ApplicationLength;
        if (fromOriginator)
        {
            if ((rst || fin) && flow.State is FlowState.Established or FlowState.Midstream)
            {
                Close(flow, timestamp, output);
            }

            return;
        }

        if (syn && ack && flow.State is FlowState.Attempting or FlowState.Failed)
        {
            flow.State = FlowState.Established;
            output.Add(flow.Event(timestamp, FlowEventKind.Established));
        }
        else if (!rst && !syn && flow.Probe != ScanProbe.Syn && flow.State is FlowState.Attempting or FlowState.Failed)
        {
            // A packet without SYN answered by anything but RST: a connection picked up mid-stream, not a probe.
            flow.State = FlowState.Established;
            output.Add(flow.Event(timestamp, FlowEventKind.Established));
        }
        else if (rst && flow.State == FlowState.Attempting)
        {
            flow.State = FlowState.Refused;
            output.Add(flow.Event(timestamp, FlowEventKind.Refused));
        }
        else if ((rst || fin) && flow.State is FlowState.Established or FlowState.Midstream)
        {
            Close(flow, timestamp, output);
        }
    }

    private void HandleUdp(DateTimeOffset timestamp, DecodedPacket packet, Flow? flow, bool fromOriginator, List<FlowEvent> output)
    {
        if (flow is null)
        {
            if (IsGroupAddress(packet.Destination))
            {
                Start(timestamp, packet, FlowState.Midstream); // Multicast and broadcast expect no answer: no contact.
            }
            else
            {
                Open(timestamp, packet, ScanProbe.Udp, output);
            }

            return;
        }

        flow.LastSeen = timestamp;
        flow.Bytes += packet.ApplicationLength;
        if (!fromOriginator && flow.State is FlowState.Attempting or FlowState.Failed)
        {
            flow.State = FlowState.Established;
            output.Add(flow.Event(timestamp, FlowEventKind.Established));
        }
    }

    private void HandleOtherProtocol(DateTimeOffset timestamp, DecodedPacket packet, List<FlowEvent> output)
    {
        // No ports: a flow is (source, destination, protocol). A packet back of the same protocol answers it.
        var key = new FlowKey(packet.Source, 0, packet.Destination, 0, packet.ProtocolNumber);
        if (_flows.TryGetValue(key, out var flow))
        {
            flow.LastSeen = timestamp;
            return;
        }

        if (_flows.TryGetValue(key.Reversed, out flow))
        {
            flow.LastSeen = timestamp;
            if (flow.State is FlowState.Attempting or FlowState.Failed)
            {
                flow.State = FlowState.Established;
                output.Add(flow.Event(timestamp, FlowEventKind.Established));
            }

            return;
        }

        if (IsGroupAddress(packet.Destination))
        {
            Start(timestamp, packet with { SourcePort = 0, DestinationPort = 0 }, FlowState.Midstream);
        }
        else
        {
            Open(timestamp, packet with { SourcePort = 0, DestinationPort = 0 }, ScanProbe.Protocol, output);
        }
    }

    private void HandleUnreachable(DateTimeOffset timestamp, DecodedPacket error, DecodedPacket quoted, List<FlowEvent> output)
    {
        // The quote is the packet the originator sent, so its source is the flow's originator. Only the contacted host
        // itself, answering the originator, refuses here: an error from anyone else (a router's host unreachable, or a
        // neighbour forging errors to get the originator blamed as a scanner) is not believed, and the attempt is left
        // to time out, which is a failure too when nothing else answers it.
        if (!error.Source.Equals(quoted.Destination) || !error.Destination.Equals(quoted.Source))
        {
            return;
        }

        bool ported = quoted.ProtocolNumber is 6 or 17;
        var key = new FlowKey(quoted.Source, ported ? quoted.SourcePort : 0, quoted.Destination, ported ? quoted.DestinationPort : 0, quoted.ProtocolNumber);
        if (_flows.TryGetValue(key, out var flow) && flow.State == FlowState.Attempting)
        {
            flow.State = FlowState.Refused;
            flow.LastSeen = timestamp;
            output.Add(flow.Event(timestamp, FlowEventKind.Refused));
        }
    }

    /// <summary>A probe whose outcome decides a contact: the flags of a TCP packet that opens no connection.</summary>
    private static ScanProbe? StealthProbe(TcpFlags flags, int applicationLength)
    {
        const TcpFlags xmas = TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Urg;
        if ((flags & TcpFlags.Ack) != 0)
        {
            // An ACK with data, or with FIN/PSH, is a connection seen from its middle; a bare ACK is nmap's -sA / -sW.
            return flags == TcpFlags.Ack && applicationLength == 0 ? ScanProbe.Ack : null;
        }

        return flags switch
        {
            TcpFlags.None => ScanProbe.Null,
            TcpFlags.Fin => ScanProbe.Fin,
            _ when (flags & xmas) == xmas => ScanProbe.Xmas,
            _ => ScanProbe.OtherTcp,
        };
    }

    private static bool IsGroupAddress(System.Net.IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? address.IsIPv6Multicast
            : address.GetAddressBytes() is var b && (b[0] >= 224 || (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255));

    private void Open(DateTimeOffset timestamp, DecodedPacket packet, ScanProbe probe, List<FlowEvent> output)
    {
        var flow = Start(timestamp, packet, FlowState.Attempting);
        if (flow is not null)
        {
            flow.Probe = probe;
            output.Add(flow.Event(timestamp, FlowEventKind.Attempt));
            Schedule(flow, timestamp);
        }
    }

    private Flow? Start(DateTimeOffset timestamp, DecodedPacket packet, FlowState state)
    {
        var key = new FlowKey(packet.Source, packet.SourcePort, packet.Destination, packet.DestinationPort, packet.ProtocolNumber);
        if (_flows.Count >= _options.MaxFlows && !_flows.ContainsKey(key))
        {
            return null;
        }

        var flow = new Flow(key, packet.Protocol) { State = state, LastSeen = timestamp, Bytes = packet.ApplicationLength };
        _flows[key] = flow;
        return flow;
    }

    private void Schedule(Flow flow, DateTimeOffset timestamp)
    {
        flow.Deadline = timestamp + _options.AttemptTimeout;
        _deadlines.Enqueue(flow, (flow.Deadline, _sequence++));
    }

    private static void Close(Flow flow, DateTimeOffset timestamp, List<FlowEvent> output)
    {
        flow.State = FlowState.Closed;
        output.Add(flow.Event(timestamp, FlowEventKind.Closed) with { Bytes = flow.Bytes });
    }

    private static DecodedPacket Reverse(DecodedPacket packet) => packet with
    {
        Source = packet.Destination,
        Destination = packet.Source,
        SourcePort = packet.DestinationPort,
        DestinationPort = packet.SourcePort,
        ApplicationLength = 0,
    };

    private enum FlowState
    {
        Attempting,
        Established,
        Refused,
        Failed,
        Closed,
        Midstream,
        Unsolicited,
    }

    private readonly record struct FlowKey(IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort, byte Protocol)
    {
        public FlowKey Reversed => new(Destination, DestinationPort, Source, SourcePort, Protocol);
    }

    private sealed class Flow(FlowKey key, TransportProtocol protocol)
    {
        public FlowState State { get; set; }

        public DateTimeOffset LastSeen { get; set; }

        public DateTimeOffset Deadline { get; set; }

        public long Bytes { get; set; }

        public ScanProbe Probe { get; set; }

        public FlowEvent Event(DateTimeOffset time, FlowEventKind kind) =>
            new(time, key.Source, key.SourcePort, key.Destination, key.DestinationPort, protocol, kind, 0) { Probe = Probe, IpProtocol = key.Protocol };
    }
}
