using System.Net;
using Moat.Fuzz.Engine;
using Moat.Honeyfarm.Dns;
using Moat.Honeyfarm.Packets;

namespace Moat.Fuzz.Targets;

/// <summary>The honeyfarm gateway's own parsers: the IPv4 header it binds clones by, and its DNS sinkhole.</summary>
internal static class FarmTargets
{
    private static readonly IPNetwork DarkRange = IPNetwork.Parse("198.18.128.0/17");

    public static FuzzTarget PacketHeaders() => new()
    {
        Name = "farm-packet",
        Parser = "PacketHeader.TryParse",
        MaxLength = 4096,
        Seeds = () => [Ipv4Udp(Query("example.com", 1)), Ipv4Tcp(), .. FromCaptures()],
        Run = input => _ = PacketHeader.TryParse(input, out _),
    };

    public static FuzzTarget Dns() => new()
    {
        Name = "dns",
        Parser = "DnsSinkholeAnswer.TryAnswerPacket / TryAnswer",
        MaxLength = 4096,
        Seeds = () => [Ipv4Udp(Query("example.com", 1)), Ipv4Udp(Query("a.b.c.d.moat.internal", 28)), Ipv4Udp(Query("x", 16)), Query("mail.example.org", 1)],
        Dictionary = [[0xc0, 0x0c], [0x3f], [0x00], [0x00, 0x01, 0x00, 0x01], [0x01, 0x00]],
        Run = input =>
        {
            // The gateway's reply buffer: IPv4 and UDP headers plus 512 bytes of DNS.
            Span<byte> reply = stackalloc byte[28 + 512];
            _ = DnsSinkholeAnswer.TryAnswerPacket(input, reply, DarkRange, out _, out _);
            _ = DnsSinkholeAnswer.TryAnswer(input, reply[..512], DarkRange, out _, out _);
        },
    };

    private static IEnumerable<byte[]> FromCaptures() =>
        CaptureTargets.Packet().Seeds().Where(p => p.Length > 15 && p[0] == 1).Select(p => p[15..]).Take(200);

    private static byte[] Query(string name, ushort type)
    {
        var q = new List<byte> { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (string label in name.Split('.'))
        {
            q.Add((byte)label.Length);
            q.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        q.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        return [.. q];
    }

    private static byte[] Ipv4Udp(byte[] dns)
    {
        int total = 28 + dns.Length;
        return
        [
            0x45, 0, (byte)(total >> 8), (byte)total, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 9, 198, 18, 0, 1,
            0xc3, 0x50, 0, 53, (byte)((8 + dns.Length) >> 8), (byte)(8 + dns.Length), 0, 0, .. dns,
        ];
    }

    private static byte[] Ipv4Tcp() =>
    [
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 9, 198, 18, 200, 7,
        0x30, 0x39, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
}
