namespace Moat.Detect.Flows;

/// <summary>What happened to a flow: the vocabulary shared by capture replay and the live kernel sources.</summary>
public enum FlowEventKind
{
    /// <summary>An initiator asked for a connection (TCP SYN, first UDP datagram, conntrack NEW).</summary>
    Attempt,

    /// <summary>The responder answered (SYN-ACK, a UDP reply, conntrack ASSURED / SEEN_REPLY).</summary>
    Established,

    /// <summary>The responder or the path refused: TCP RST to a SYN, ICMP unreachable.</summary>
    Refused,

    /// <summary>No answer within the attempt timeout.</summary>
    TimedOut,

    /// <summary>An established flow ended (FIN, RST, conntrack DESTROY); <see cref="FlowEvent.Bytes"/> is its total.</summary>
    Closed,

    /// <summary>One packet of any flow; <see cref="FlowEvent.Bytes"/> is its IP payload length.</summary>
    Packet,
}
