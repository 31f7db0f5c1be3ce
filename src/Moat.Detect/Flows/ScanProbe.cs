namespace Moat.Detect.Flows;

/// <summary>What kind of probe opened a contact: the scan technique an alert names ("UDP scan", "FIN scan" ...).</summary>
public enum ScanProbe
{
    /// <summary>Not a contact event, or unknown (conntrack).</summary>
    None,

    /// <summary>A TCP SYN: a connection attempt (connect or half-open SYN scan).</summary>
    Syn,

    /// <summary>A first UDP datagram.</summary>
    Udp,

    /// <summary>A TCP FIN with no connection behind it (nmap -sF).</summary>
    Fin,

    /// <summary>A TCP packet with no flags at all (nmap -sN).</summary>
    Null,

    /// <summary>FIN+PSH+URG without ACK (nmap -sX).</summary>
    Xmas,

    /// <summary>An ACK with no connection and no payload behind it (nmap -sA, -sW: the window scan sends the same probe).</summary>
    Ack,

    /// <summary>Any other TCP flag combination with no connection behind it (nmap --scanflags, -sM).</summary>
    OtherTcp,

    /// <summary>A packet of an IP protocol other than TCP, UDP and ICMP (nmap -sO).</summary>
    Protocol,
}

/// <summary>Names of <see cref="ScanProbe"/> values for people.</summary>
public static class ScanProbes
{
    /// <summary>"UDP scan", "FIN scan", ...; null for <see cref="ScanProbe.None"/> and <see cref="ScanProbe.Syn"/> (an ordinary TCP scan).</summary>
    public static string? Technique(ScanProbe probe) => probe switch
    {
        ScanProbe.Udp => "UDP scan",
        ScanProbe.Fin => "FIN scan",
        ScanProbe.Null => "NULL scan",
        ScanProbe.Xmas => "Xmas scan",
        ScanProbe.Ack => "ACK/window scan",
        ScanProbe.OtherTcp => "TCP flag scan",
        ScanProbe.Protocol => "IP protocol scan",
        _ => null,
    };

    /// <summary>The short name used in JSON and evidence: "syn", "udp", "fin", "null", "xmas", "ack", "tcp-flags", "protocol".</summary>
    public static string Name(ScanProbe probe) => probe switch
    {
        ScanProbe.Syn => "syn",
        ScanProbe.Udp => "udp",
        ScanProbe.Fin => "fin",
        ScanProbe.Null => "null",
        ScanProbe.Xmas => "xmas",
        ScanProbe.Ack => "ack",
        ScanProbe.OtherTcp => "tcp-flags",
        ScanProbe.Protocol => "protocol",
        _ => "none",
    };
}
