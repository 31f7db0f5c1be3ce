using System.Buffers.Binary;
using System.Net;

namespace Moat.Containment.Tests.Flows;

/// <summary>Builds netlink messages byte by byte from the kernel headers' layouts, to feed the decoder known input.</summary>
internal static class NetlinkCraft
{
    public const ushort CtNew = (1 << 8) | 0;
    public const ushort CtDelete = (1 << 8) | 2;
    public const ushort NflogPacket = 4 << 8;
    public const ushort NlmFCreate = 0x400;
    public const ushort Nested = 0x8000;

    public static byte[] Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        var bytes = new byte[(4 + value.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), type);
        value.CopyTo(bytes.AsSpan(4));
        return bytes;
    }

    public static byte[] Nest(ushort type, params byte[][] children) => Attribute((ushort)(type | Nested), children.SelectMany(c => c).ToArray());

    public static byte[] Be16(int v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v);
        return b;
    }

    public static byte[] Be32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    public static byte[] Be64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return b;
    }

    /// <summary>nlmsghdr + nfgenmsg (AF_INET, v0, res_id 0) + attributes.</summary>
    public static byte[] Message(ushort type, ushort flags, params byte[][] attributes)
    {
        var body = new byte[] { 2, 0, 0, 0 }.Concat(attributes.SelectMany(a => a)).ToArray();
        var message = new byte[16 + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), flags);
        body.CopyTo(message, 16);
        return message;
    }

    /// <summary>A ctnetlink event: CTA_TUPLE_ORIG(ip(src,dst), proto(num, sport, dport)), CTA_ID and optional counters.</summary>
    public static byte[] Conntrack(ushort type, ushort flags, uint id, string src, int sport, string dst, int dport, byte protocol, ulong? origBytes = null, ulong? replyBytes = null)
    {
        var attributes = new List<byte[]>
        {
            Nest(1, Nest(1, Attribute(1, IPAddress.Parse(src).GetAddressBytes()), Attribute(2, IPAddress.Parse(dst).GetAddressBytes())),
                    Nest(2, Attribute(1, [protocol]), Attribute(2, Be16(sport)), Attribute(3, Be16(dport)))),
            Attribute(3, Be32(0x2 | 0x8)), // CTA_STATUS: SEEN_REPLY | CONFIRMED
            Attribute(12, Be32(id)),
        };
        if (origBytes is { } o)
        {
            attributes.Add(Nest(9, Attribute(1, Be64(3)), Attribute(2, Be64(o))));
        }

        if (replyBytes is { } r)
        {
            attributes.Add(Nest(10, Attribute(1, Be64(2)), Attribute(2, Be64(r))));
        }

        return Message(type, flags, [.. attributes]);
    }

    /// <summary>An IPv4 TCP SYN: 20-byte IP header + 20-byte TCP header, total length 60 (as if it had 20 bytes of options).</summary>
    public static byte[] TcpSyn(string src, int sport, string dst, int dport)
    {
        var packet = new byte[40];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), 60);
        packet[8] = 64;
        packet[9] = 6;
        IPAddress.Parse(src).GetAddressBytes().CopyTo(packet, 12);
        IPAddress.Parse(dst).GetAddressBytes().CopyTo(packet, 16);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(20), (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), (ushort)dport);
        packet[32] = 5 << 4;
        packet[33] = 0x02;
        return packet;
    }

    /// <summary>An NFLOG packet message: NFULA_PREFIX (NUL-terminated), NFULA_TIMESTAMP, NFULA_PAYLOAD.</summary>
    public static byte[] Nflog(string? prefix, byte[] payload, ulong? seconds = null)
    {
        var attributes = new List<byte[]>();
        if (prefix is not null)
        {
            attributes.Add(Attribute(10, [.. System.Text.Encoding.ASCII.GetBytes(prefix), 0]));
        }

        if (seconds is { } s)
        {
            attributes.Add(Attribute(3, [.. Be64(s), .. Be64(250_000)]));
        }

        attributes.Add(Attribute(9, payload));
        return Message(NflogPacket, 0, [.. attributes]);
    }
}
