using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Kernel;

/// <summary>
/// Turns conntrack NEW / UPDATE / DESTROY into flow events. NEW is an attempt; a reply (SEEN_REPLY, or TCP SYN_RECV or
/// ESTABLISHED) makes it established; a TCP entry that reaches CLOSE without ever being established was refused (RST);
/// an entry destroyed without a reply timed out; an established entry destroyed is closed with its byte counters.
/// </summary>
internal sealed class ConntrackFlowMapper(int capacity = 262_144)
{
    private readonly Dictionary<uint, Outcome> _seen = [];

    internal void Map(ConntrackEntry entry, DateTimeOffset now, string? sandboxId, List<FlowEvent> output)
    {
        var protocol = entry.Protocol switch
        {
            6 => TransportProtocol.Tcp,
            17 => TransportProtocol.Udp,
            1 => TransportProtocol.Icmp,
            58 => TransportProtocol.IcmpV6,
            _ => TransportProtocol.Other,
        };

        FlowEvent Event(FlowEventKind kind, long bytes = 0) =>
            new(now, entry.Source, entry.SourcePort, entry.Destination, entry.DestinationPort, protocol, kind, bytes, sandboxId);

        _seen.TryGetValue(entry.Id, out var outcome);
        if (entry.EventType == ConntrackEventType.New && outcome == Outcome.None)
        {
            if (_seen.Count >= capacity)
            {
                _seen.Clear(); // Losing old ids only costs a missed "closed"; unbounded growth would cost the host.
            }

            _seen[entry.Id] = outcome = Outcome.Attempted;
            output.Add(Event(FlowEventKind.Attempt));
        }

        bool replied = (entry.Status & ConntrackEntry.StatusSeenReply) != 0;
        bool tcp = entry.Protocol == 6;
        if (outcome == Outcome.Attempted)
        {
            if (tcp && entry.TcpState == ConntrackEntry.TcpClose)
            {
                _seen[entry.Id] = outcome = Outcome.Refused;
                output.Add(Event(FlowEventKind.Refused));
            }
            else if (tcp ? entry.TcpState is ConntrackEntry.TcpSynRecv or ConntrackEntry.TcpEstablished : replied)
            {
                _seen[entry.Id] = outcome = Outcome.Established;
                output.Add(Event(FlowEventKind.Established));
            }
        }

        if (entry.EventType != ConntrackEventType.Destroy)
        {
            return;
        }

        _seen.Remove(entry.Id);
        switch (outcome)
        {
            case Outcome.Attempted:
                output.Add(Event(replied ? FlowEventKind.Closed : FlowEventKind.TimedOut));
                break;
            case Outcome.Established:
                output.Add(Event(FlowEventKind.Closed, (long)Math.Min(entry.OriginalBytes + entry.ReplyBytes, long.MaxValue)));
                break;
            default:
                break;
        }
    }

    private enum Outcome
    {
        None,
        Attempted,
        Established,
        Refused,
    }
}
