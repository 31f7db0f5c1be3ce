using System.Net;
using Moat.Detect.Packets;

namespace Moat.Detect.Flows;

/// <summary>One flow event, from a capture or from the kernel, fed to the detectors.</summary>
/// <param name="Time">When it happened (packet timestamp offline, TimeProvider live).</param>
/// <param name="Source">The initiator of the flow (for <see cref="FlowEventKind.Packet"/>, the packet's sender).</param>
/// <param name="SourcePort">Initiator's port, 0 where the protocol has none.</param>
/// <param name="Destination">The responder (for packets, the packet's receiver).</param>
/// <param name="DestinationPort">Responder's port, 0 where the protocol has none.</param>
/// <param name="Protocol">Transport protocol.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Bytes">Payload bytes of the packet, or of the whole flow for <see cref="FlowEventKind.Closed"/>.</param>
/// <param name="SandboxId">Opaque id of the sandbox the initiator runs in, null offline.</param>
public sealed record FlowEvent(
    DateTimeOffset Time,
    IPAddress Source,
    int SourcePort,
    IPAddress Destination,
    int DestinationPort,
    TransportProtocol Protocol,
    FlowEventKind Kind,
    long Bytes,
    string? SandboxId = null)
{
    /// <summary>TCP flags of the packet for <see cref="FlowEventKind.Packet"/> events; None where unknown (conntrack).</summary>
    public TcpFlags Flags { get; init; }

    /// <summary>True when the packet or flow was answered before: a response, not a new probe.</summary>
    public bool IsReply { get; init; }

    /// <summary>For contact events (attempt and its outcome) from packets: the probe that opened the contact; None from conntrack.</summary>
    public ScanProbe Probe { get; init; }

    /// <summary>The IP protocol number (6 TCP, 17 UDP, any for <see cref="ScanProbe.Protocol"/>); 0 where unknown.</summary>
    public byte IpProtocol { get; init; }

    /// <summary>For packets from an SMTP client (to port 25 or 587) whose payload was captured: RCPT TO commands in it.</summary>
    public int SmtpRecipients { get; init; }

    /// <summary>For packets from an SMTP client whose payload was captured: DATA and BDAT ... LAST commands (messages) in it.</summary>
    public int SmtpMessages { get; init; }
}
