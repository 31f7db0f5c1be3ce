namespace Moat.Detect.Capture;

/// <summary>LINKTYPE_ values (tcpdump.org/linktypes.html) the decoder understands; others are carried but not decoded.</summary>
internal enum LinkType : uint
{
    Null = 0,
    Ethernet = 1,
    RawLegacy12 = 12,
    RawLegacy14 = 14,
    Raw = 101,
    Loop = 108,
    LinuxSll = 113,
    Ipv4 = 228,
    Ipv6 = 229,
    LinuxSll2 = 276,
}
