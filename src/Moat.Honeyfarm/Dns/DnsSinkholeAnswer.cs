using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Moat.Honeyfarm.Dns;

/// <summary>
/// The honeyfarm resolver's answers, computed without ever asking anyone outside (scrubbed): a well-formed query
/// with one question for an A record of a name gets an address of the dark range chosen from the name (the same
/// name always the same address), so a worm that resolves its next victim connects into the farm; AAAA gets an
/// empty answer; anything else well-formed is REFUSED; a malformed message (truncated, compressed question, labels
/// or names over the RFC 1035 limits, not a standard query) gets no answer at all.
/// </summary>
internal static class DnsSinkholeAnswer
{
    /// <summary>The resolver's address as clones see it: routed into their universe's TUN device, answered by the gateway.</summary>
    public static readonly IPAddress ResolverAddress = IPAddress.Parse("169.254.53.53");

    private const int HeaderLength = 12;
    private const int MaxName = 255;
    private const ushort TypeA = 1;
    private const ushort TypeAaaa = 28;
    private const ushort ClassIn = 1;
    private const int Ttl = 60;

    /// <summary>Writes the answer to <paramref name="query"/> into <paramref name="response"/>; false (and nothing to send) when the query is malformed.</summary>
    public static bool TryAnswer(ReadOnlySpan<byte> query, Span<byte> response, IPNetwork darkRange, out int length, out string? name)
    {
        length = 0;
        name = null;
        if (query.Length < HeaderLength + 5 || response.Length < 512)
        {
            return false;
        }

        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(query[2..]);
        bool isResponse = (flags & 0x8000) != 0;
        int opcode = (flags >> 11) & 0xF;
        if (isResponse || opcode != 0 || BinaryPrimitives.ReadUInt16BigEndian(query[4..]) != 1
            || BinaryPrimitives.ReadUInt16BigEndian(query[6..]) != 0 || BinaryPrimitives.ReadUInt16BigEndian(query[8..]) != 0)
        {
            return false;
        }

        // The question's name: plain labels only (a compression pointer has no place in a query's question).
        var text = new StringBuilder();
        int at = HeaderLength;
        while (true)
        {
            if (at >= query.Length)
            {
                return false;
            }

            int label = query[at];
            if (label == 0)
            {
                at++;
                break;
            }

            if (label > 63 || at + 1 + label > query.Length || text.Length + label + 1 > MaxName)
            {
                return false;
            }

            if (text.Length > 0)
            {
                text.Append('.');
            }

            foreach (var b in query.Slice(at + 1, label))
            {
                if (b is < 0x21 or > 0x7e)
                {
                    return false; // printable ASCII only: a name with control bytes is not worth answering or logging
                }

                text.Append((char)b);
            }

            at += 1 + label;
        }

        if (at + 4 > query.Length)
        {
            return false;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(query[at..]);
        ushort @class = BinaryPrimitives.ReadUInt16BigEndian(query[(at + 2)..]);
        int questionEnd = at + 4;
        name = text.ToString().ToLowerInvariant();

        // Header and question copied back; QR set, RD kept, RA set.
        query[..questionEnd].CopyTo(response);
        int rcode = @class != ClassIn ? 5 : type is TypeA or TypeAaaa ? 0 : 5;
        BinaryPrimitives.WriteUInt16BigEndian(response[2..], (ushort)(0x8000 | (flags & 0x0100) | 0x0080 | rcode));
        BinaryPrimitives.WriteUInt16BigEndian(response[8..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(response[10..], 0);
        length = questionEnd;
        if (rcode == 0 && type == TypeA)
        {
            BinaryPrimitives.WriteUInt16BigEndian(response[6..], 1);
            var answer = response[length..];
            BinaryPrimitives.WriteUInt16BigEndian(answer, 0xC00C); // the question's name
            BinaryPrimitives.WriteUInt16BigEndian(answer[2..], TypeA);
            BinaryPrimitives.WriteUInt16BigEndian(answer[4..], ClassIn);
            BinaryPrimitives.WriteInt32BigEndian(answer[6..], Ttl);
            BinaryPrimitives.WriteUInt16BigEndian(answer[10..], 4);
            AddressFor(name, darkRange).TryWriteBytes(answer[12..], out _);
            length += 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(response[6..], 0);
        }

        return true;
    }

    /// <summary>
    /// Answers an IPv4/UDP datagram to the resolver's port 53 as read from a universe's TUN device: writes the whole
    /// reply packet (from the resolver back to the asking clone) into <paramref name="reply"/>; false when the packet
    /// or its query is malformed (nothing is sent).
    /// </summary>
    public static bool TryAnswerPacket(ReadOnlySpan<byte> packet, Span<byte> reply, IPNetwork darkRange, out int length, out string? name)
    {
        length = 0;
        name = null;
        if (packet.Length < 28 || (packet[0] >> 4) != 4 || packet[9] != 17 || reply.Length < 28 + 512)
        {
            return false;
        }

        int ihl = (packet[0] & 0xF) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (ihl < 20 || total > packet.Length || total < ihl + 8)
        {
            return false;
        }

        var udp = packet[ihl..total];
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (udpLength < 8 || udpLength > udp.Length || BinaryPrimitives.ReadUInt16BigEndian(udp[2..]) != 53)
        {
            return false;
        }

        if (!TryAnswer(udp[8..udpLength], reply[28..], darkRange, out var dnsLength, out name))
        {
            return false;
        }

        // IPv4: from the resolver (the query's destination) to the clone (its source), DF, TTL 64.
        var ip = reply[..20];
        ip.Clear();
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(28 + dnsLength));
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = 64;
        ip[9] = 17;
        packet.Slice(16, 4).CopyTo(ip[12..]);
        packet.Slice(12, 4).CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip, 0));

        var u = reply[20..(28 + dnsLength)];
        BinaryPrimitives.WriteUInt16BigEndian(u, 53);
        udp[..2].CopyTo(u[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(u[4..], (ushort)(8 + dnsLength));
        BinaryPrimitives.WriteUInt16BigEndian(u[6..], 0);
        // UDP checksum over the pseudo-header (addresses, protocol, length) and the datagram.
        uint pseudo = Sum(ip.Slice(12, 8)) + 17u + (uint)(8 + dnsLength);
        ushort sum = Checksum(u, pseudo);
        BinaryPrimitives.WriteUInt16BigEndian(u[6..], sum == 0 ? (ushort)0xFFFF : sum);
        length = 28 + dnsLength;
        return true;
    }

    private static uint Sum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if (i < data.Length)
        {
            sum += (uint)(data[i] << 8);
        }

        return sum;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        uint sum = initial + Sum(data);
        while ((sum >> 16) != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }

    /// <summary>An address of the dark range for a name (FNV-1a of the lower-case name), never its first or last.</summary>
    public static IPAddress AddressFor(string name, IPNetwork darkRange)
    {
        uint hash = 2166136261;
        foreach (var c in name.ToLowerInvariant())
        {
            hash = (hash ^ c) * 16777619;
        }

        uint size = darkRange.PrefixLength >= 31 ? 1u : (1u << (32 - darkRange.PrefixLength)) - 2;
        uint offset = darkRange.PrefixLength >= 31 ? 0 : 1 + (hash % size);
        Span<byte> b = stackalloc byte[4];
        darkRange.BaseAddress.TryWriteBytes(b, out _);
        BinaryPrimitives.WriteUInt32BigEndian(b, BinaryPrimitives.ReadUInt32BigEndian(b) + offset);
        return new IPAddress(b);
    }
}
