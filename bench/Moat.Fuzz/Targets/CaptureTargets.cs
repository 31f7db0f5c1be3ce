using Moat.Detect.Capture;
using Moat.Detect.Packets;
using Moat.Fuzz.Engine;

namespace Moat.Fuzz.Targets;

/// <summary>Capture files (pcap, pcapng) and the packet decoder the detectors read them with.</summary>
internal static class CaptureTargets
{
    private static readonly LinkType[] LinkTypes = Enum.GetValues<LinkType>();

    public static FuzzTarget Pcap() => Capture("pcap", ".pcap", ".cap", ".trace");

    public static FuzzTarget PcapNg() => Capture("pcapng", ".pcapng");

    public static FuzzTarget Packet() => new()
    {
        Name = "packet",
        Parser = "PacketDecoder.Decode (first byte picks the link type)",
        MaxLength = 4096,
        Seeds = () =>
        {
            var packets = new List<byte[]>();
            foreach (byte[] file in SeedFiles.Read(".pcap", ".pcapng", ".cap"))
            {
                try
                {
                    foreach (var p in CaptureReader.Read(file).Take(64))
                    {
                        packets.Add([(byte)Array.IndexOf(LinkTypes, p.LinkType), .. p.Data.Span]);
                    }
                }
                catch (CaptureFormatException)
                {
                    // A seed that does not read whole still gave the packets before its defect.
                }
            }

            return packets.Count > 0 ? packets : BuiltInPackets;
        },
        Run = input =>
        {
            if (input.Length > 0)
            {
                _ = PacketDecoder.Decode(LinkTypes[input[0] % LinkTypes.Length], input.AsSpan(1));
            }
        },
    };

    private static FuzzTarget Capture(string name, params string[] extensions) => new()
    {
        Name = name,
        Parser = "CaptureReader.Read (PcapReader, PcapNgReader) + PacketDecoder.Decode per record",
        Seeds = () => SeedFiles.Read(extensions) is { Count: > 0 } files ? files : [BuiltInPcap],
        Expected = e => e is CaptureFormatException,
        Run = input =>
        {
            foreach (var packet in CaptureReader.Read(input))
            {
                _ = PacketDecoder.Decode(packet.LinkType, packet.Data.Span);
            }
        },
    };

    // An IPv4/TCP SYN in Ethernet, and the same in a one-record pcap, for checkouts without the conformance corpora.
    private static readonly byte[] EthernetSyn =
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];

    private static readonly IReadOnlyList<byte[]> BuiltInPackets = [[1, .. EthernetSyn]];

    private static readonly byte[] BuiltInPcap =
    [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, (byte)EthernetSyn.Length, 0, 0, 0, (byte)EthernetSyn.Length, 0, 0, 0, .. EthernetSyn,
    ];
}
