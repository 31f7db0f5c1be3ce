using System.Net;

namespace Moat.Detect.Packets;

/// <summary>The fields of one packet that flow tracking and detection use.</summary>
internal sealed record DecodedPacket
{
    public required IPAddress Source { get; init; }

    public required IPAddress Destination { get; init; }

    public required byte ProtocolNumber { get; init; }

    public TransportProtocol Protocol => ProtocolNumber switch
    {
        1 => TransportProtocol.Icmp,
        6 => TransportProtocol.Tcp,
        17 => TransportProtocol.Udp,
        58 => TransportProtocol.IcmpV6,
        _ => TransportProtocol.Other,
    };

    public int SourcePort { get; init; }

    public int DestinationPort { get; init; }

    public TcpFlags Flags { get; init; }

    public int Window { get; init; }

    /// <summary>Bytes after the IP header(s), as the IP length fields state them.</summary>
    public int PayloadLength { get; init; }

    /// <summary>Bytes after the TCP/UDP header, from the IP length fields (may exceed what was captured).</summary>
    public int ApplicationLength { get; init; }

    /// <summary>True when the TCP or UDP header was captured whole, so ports (and TCP flags) are real, not zero for "unknown".</summary>
    public bool HasTransportHeader { get; init; }

    /// <summary>True for any fragment of a fragmented datagram; ports are only known for the first one.</summary>
    public bool IsFragment { get; init; }

    public int? VlanId { get; init; }

    /// <summary>RCPT TO commands in a captured segment from an SMTP client (to port 25 or 587).</summary>
    public int SmtpRecipients { get; init; }

    /// <summary>DATA and BDAT ... LAST commands in a captured segment from an SMTP client.</summary>
    public int SmtpMessages { get; init; }

    public byte IcmpType { get; init; }

    public byte IcmpCode { get; init; }

    /// <summary>For ICMP errors: the packet the error was about, as quoted inside it.</summary>
    public DecodedPacket? Quoted { get; init; }

    public bool IsIcmpUnreachable =>
        (Protocol == TransportProtocol.Icmp && IcmpType == 3) || (Protocol == TransportProtocol.IcmpV6 && IcmpType == 1);
}
