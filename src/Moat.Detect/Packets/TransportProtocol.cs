namespace Moat.Detect.Packets;

/// <summary>The IANA protocol numbers Moat's flows distinguish; anything else is reported by number as <see cref="Other"/>.</summary>
public enum TransportProtocol : byte
{
    Other = 0,
    Icmp = 1,
    Tcp = 6,
    Udp = 17,
    IcmpV6 = 58,
}
