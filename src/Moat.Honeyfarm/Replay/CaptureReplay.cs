using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Moat.Detect.Capture;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Replay;

/// <summary>What a capture becomes when replayed into a farm: the rewritten packets, and how addresses were mapped.</summary>
/// <param name="Packets">IPv4 packets, in capture order, ready to send with their own header.</param>
/// <param name="Sources">Distinct initiators in the capture (each became an attacker address).</param>
/// <param name="Destinations">Distinct addresses they touched (each became a dark address).</param>
/// <param name="Skipped">Records that were not the initiators' IPv4 packets (replies, other protocols, truncated).</param>
public sealed record ReplayPlan(IReadOnlyList<byte[]> Packets, int Sources, int Destinations, int Skipped);

/// <summary>
/// `moat honeyfarm replay`: feeds a capture into a honeyfarm as if it came from outside. The capture's initiators
/// (sources of TCP SYNs, or of the first packet when there are none) become attacker addresses of the test internet
/// and every address they touched becomes a distinct address of the dark range, in order of first contact; only the
/// initiators' packets are sent (the farm's clones give their own answers). Headers and TCP/UDP checksums are
/// rewritten, so the clones' stacks accept what arrives.
/// </summary>
public static class CaptureReplay
{
    private const int EthernetHeader = 14;

    public static ReplayPlan Plan(string path, IPNetwork dark, IReadOnlyList<IPAddress> attackers)
    {
        ArgumentNullException.ThrowIfNull(attackers);
        if (attackers.Count == 0 || dark.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new HoneyfarmException("A replay needs at least one attacker address and an IPv4 dark range.", kind: ErrorKind.Invalid);
        }

        List<byte[]> ipv4;
        int records;
        try
        {
            var all = CaptureReader.Read(CaptureReader.LoadFile(path)).ToList();
            records = all.Count;
            ipv4 = [.. all.Select(Ipv4Of).OfType<byte[]>()];
        }
        catch (CaptureFormatException e)
        {
            throw new HoneyfarmException($"{path} is not a capture this tool reads: {e.Message}", e, ErrorKind.Invalid);
        }

        var initiators = ipv4.Where(IsSyn).Select(Source).ToHashSet();
        if (initiators.Count == 0 && ipv4.Count > 0)
        {
            initiators.Add(Source(ipv4[0]));
        }

        var sources = new Dictionary<uint, uint>();
        var destinations = new Dictionary<uint, uint>();
        var hosts = (1u << (32 - dark.PrefixLength)) - 2;
        var darkBase = BinaryPrimitives.ReadUInt32BigEndian(dark.BaseAddress.GetAddressBytes());
        var packets = new List<byte[]>();
        var skipped = 0;
        foreach (var packet in ipv4)
        {
            var source = Source(packet);
            if (!initiators.Contains(source))
            {
                skipped++;
                continue;
            }

            if (!sources.TryGetValue(source, out var attacker))
            {
                attacker = BinaryPrimitives.ReadUInt32BigEndian(attackers[sources.Count % attackers.Count].GetAddressBytes());
                sources[source] = attacker;
            }

            var destination = BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(16));
            if (!destinations.TryGetValue(destination, out var mapped))
            {
                if (destinations.Count >= hosts)
                {
                    skipped++;
                    continue;
                }

                mapped = darkBase + 1 + (uint)destinations.Count;
                destinations[destination] = mapped;
            }

            packets.Add(Rewrite(packet, attacker, mapped));
        }

        return new ReplayPlan(packets, sources.Count, destinations.Count, skipped + records - ipv4.Count);
    }

    /// <summary>Sends the plan's packets from <paramref name="ns"/> (the test internet) through a raw socket.</summary>
    [SupportedOSPlatform("linux")]
    public static int Send(NetworkNamespace ns, ReplayPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return NamespaceRunner.Run(ns, () =>
        {
            using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
            var sent = 0;
            foreach (var packet in plan.Packets)
            {
                var to = new IPEndPoint(new IPAddress(packet.AsSpan(16, 4)), 0);
                try
                {
                    raw.SendTo(packet, to);
                    sent++;
                }
                catch (SocketException)
                {
                    // ENOBUFS or no route: counted as not sent.
                }
            }

            return sent;
        });
    }

    /// <summary>The IPv4 packet inside a capture record, whole (null when it is not IPv4 or was cut short).</summary>
    private static byte[]? Ipv4Of(CapturedPacket record)
    {
        var data = record.Data.Span;
        var offset = record.LinkType switch
        {
            LinkType.Ethernet when data.Length >= EthernetHeader && BinaryPrimitives.ReadUInt16BigEndian(data[12..]) == 0x0800 => EthernetHeader,
            LinkType.Raw or LinkType.RawLegacy12 or LinkType.RawLegacy14 or LinkType.Ipv4 => 0,
            LinkType.LinuxSll when data.Length >= 16 && BinaryPrimitives.ReadUInt16BigEndian(data[14..]) == 0x0800 => 16,
            _ => -1,
        };
        if (offset < 0 || data.Length < offset + 20 || data[offset] >> 4 != 4)
        {
            return null;
        }

        var ip = data[offset..];
        var headerLength = (ip[0] & 0x0F) * 4;
        var total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        return headerLength < 20 || total < headerLength || total > ip.Length ? null : ip[..total].ToArray();
    }

    private static uint Source(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(12));

    private static bool IsSyn(byte[] packet)
    {
        var headerLength = (packet[0] & 0x0F) * 4;
        return packet[9] == 6 && packet.Length >= headerLength + 14 && (packet[headerLength + 13] & 0x12) == 0x02;
    }

    private static byte[] Rewrite(byte[] original, uint source, uint destination)
    {
        var packet = (byte[])original.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(12), source);
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(16), destination);
        var headerLength = (packet[0] & 0x0F) * 4;
        packet[10] = packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Checksum(packet.AsSpan(0, headerLength), 0));

        // TCP and UDP checksums cover a pseudo-header with both addresses; fragments carry no L4 header to fix.
        var fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(6)) & 0x1FFF;
        var protocol = packet[9];
        var l4 = packet.AsSpan(headerLength);
        var at = protocol switch { 6 => 16, 17 => 6, _ => -1 };
        if (fragmentOffset == 0 && at >= 0 && l4.Length >= at + 2 && (protocol != 17 || BinaryPrimitives.ReadUInt16BigEndian(l4[at..]) != 0))
        {
            l4[at] = l4[at + 1] = 0;
            var pseudo = (ulong)(source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + protocol + (uint)l4.Length;
            var sum = Checksum(l4, pseudo);
            BinaryPrimitives.WriteUInt16BigEndian(l4[at..], protocol == 17 && sum == 0 ? (ushort)0xFFFF : sum);
        }

        return packet;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data, ulong sum)
    {
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if ((data.Length & 1) == 1)
        {
            sum += (ulong)data[^1] << 8;
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
