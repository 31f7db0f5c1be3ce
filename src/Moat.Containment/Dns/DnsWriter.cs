using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Moat.Containment.Dns;

/// <summary>
/// Writes the only messages the egress resolver sends: a one-question query upstream, and an answer to a tenant made
/// from scratch (its question, then the CNAME chain and A records the resolver took), never upstream bytes passed on.
/// </summary>
public static class DnsWriter
{
    /// <summary>An answer over UDP without EDNS may not exceed this (RFC 1035 §4.2.1); records past it are left out and TC set.</summary>
    public const int UdpLimit = 512;

    private const ushort FlagResponse = 0x8000;
    private const ushort FlagTruncated = 0x0200;
    private const ushort FlagRecursionDesired = 0x0100;
    private const ushort FlagRecursionAvailable = 0x0080;

    /// <summary>A standard query with recursion desired for <paramref name="name"/> (dotted, no final dot).</summary>
    public static byte[] Query(ushort id, string name, ushort type)
    {
        var buffer = new byte[DnsMessage.HeaderLength + DnsMessage.MaxName + 4];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), FlagRecursionDesired);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(4), 1);
        var at = DnsMessage.HeaderLength;
        at += WriteName(buffer.AsSpan(at), name);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at), type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 2), DnsMessage.ClassIn);
        return buffer[..(at + 4)];
    }

    /// <summary>
    /// The answer to <paramref name="query"/>: its id, its question as asked, <paramref name="code"/>, and
    /// <paramref name="records"/> (CNAME and A only) with <paramref name="ttl"/>, as many as fit in
    /// <paramref name="limit"/> bytes (TC set when some did not).
    /// </summary>
    public static byte[] Answer(ushort id, bool recursionDesired, DnsQuestion question, DnsResponseCode code, IReadOnlyList<DnsRecord> records, uint ttl, int limit = UdpLimit)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(records);
        var buffer = new byte[Math.Max(limit, DnsMessage.HeaderLength + DnsMessage.MaxName + 4)];
        var flags = (ushort)(FlagResponse | FlagRecursionAvailable | (recursionDesired ? FlagRecursionDesired : 0) | ((int)code & 0xF));
        BinaryPrimitives.WriteUInt16BigEndian(buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(4), 1);
        var at = DnsMessage.HeaderLength;
        at += WriteName(buffer.AsSpan(at), question.Name);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at), question.Type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 2), question.Class);
        at += 4;
        ushort written = 0;
        Span<byte> one = stackalloc byte[2 * (DnsMessage.MaxName + 1) + 10];
        foreach (var record in records)
        {
            var length = WriteRecord(one, record, ttl);
            if (length == 0)
            {
                continue;
            }

            if (at + length > limit)
            {
                flags |= FlagTruncated;
                break;
            }

            one[..length].CopyTo(buffer.AsSpan(at));
            at += length;
            written++;
        }

        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(6), written);
        return buffer[..at];
    }

    /// <summary>An answer with no question and no records: FORMERR to a query that could not be read, NOTIMP to another opcode.</summary>
    public static byte[] Error(ushort id, DnsResponseCode code)
    {
        var buffer = new byte[DnsMessage.HeaderLength];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), (ushort)(FlagResponse | FlagRecursionAvailable | ((int)code & 0xF)));
        return buffer;
    }

    private static int WriteRecord(Span<byte> buffer, DnsRecord record, uint ttl)
    {
        int at = WriteName(buffer, record.Name);
        byte[] data;
        if (record.Type == DnsMessage.TypeA && record.Address is { AddressFamily: AddressFamily.InterNetwork } address)
        {
            data = address.GetAddressBytes();
        }
        else if (record.Type == DnsMessage.TypeCname && record.Target is { } target)
        {
            data = new byte[DnsMessage.MaxName + 1];
            data = data[..WriteName(data, target)];
        }
        else
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt16BigEndian(buffer[at..], record.Type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(at + 2)..], DnsMessage.ClassIn);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[(at + 4)..], ttl);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(at + 8)..], (ushort)data.Length);
        data.CopyTo(buffer[(at + 10)..]);
        return at + 10 + data.Length;
    }

    /// <summary>Writes a dotted name (already checked by the parser: labels ≤ 63, whole ≤ 255) as uncompressed labels.</summary>
    private static int WriteName(Span<byte> buffer, string name)
    {
        var at = 0;
        if (name.Length > 0)
        {
            foreach (var label in name.Split('.'))
            {
                if (label.Length is 0 or > DnsMessage.MaxLabel || at + 1 + label.Length + 1 > DnsMessage.MaxName)
                {
                    throw new ArgumentException($"'{name}' is not a DNS name of labels of 1 to 63 octets and 255 in all.", nameof(name));
                }

                buffer[at++] = (byte)label.Length;
                foreach (var c in label)
                {
                    buffer[at++] = (byte)c;
                }
            }
        }

        buffer[at++] = 0;
        return at;
    }
}
