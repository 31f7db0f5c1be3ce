using System.Buffers.Binary;
using System.Net;

namespace Moat.Containment.Dns;

/// <summary>Why a DNS message was refused by <see cref="DnsMessage.TryParse"/>; <see cref="None"/> when it parsed.</summary>
public enum DnsParseError
{
    None,

    /// <summary>Shorter than its header, or a name, question or record runs past the end.</summary>
    Truncated,

    /// <summary>Over 65,535 bytes: no DNS transport carries it.</summary>
    TooLong,

    /// <summary>A label over 63 octets, or a name over 255 octets on the wire.</summary>
    NameTooLong,

    /// <summary>A compression pointer that does not point strictly backwards (loops), or too many of them.</summary>
    BadPointer,

    /// <summary>A label type other than a plain label or a pointer (0x40/0x80 extended labels).</summary>
    BadLabel,

    /// <summary>A byte outside [A-Za-z0-9_-] and '*' in a label: nothing Moat could match or log safely.</summary>
    BadCharacter,

    /// <summary>More questions or records than the limits (one question; <see cref="DnsMessage.MaxRecords"/> records).</summary>
    TooManyRecords,

    /// <summary>An A record whose data is not 4 bytes, or a CNAME whose data is not exactly one name.</summary>
    BadRecord,
}

/// <summary>One question: the name as asked (its case kept), its type and class.</summary>
public sealed record DnsQuestion(string Name, ushort Type, ushort Class)
{
    /// <summary>The name in lower case, as names are compared.</summary>
    public string Key { get; } = Name.ToLowerInvariant();
}

/// <summary>One answer record Moat looks at: A (with its address) or CNAME (with its target); others keep only their header.</summary>
public sealed record DnsRecord(string Name, ushort Type, ushort Class, uint Ttl, IPAddress? Address, string? Target);

/// <summary>
/// A DNS message (RFC 1035 §4) as the egress resolver reads it from either side: a tenant's query or an upstream's
/// answer. Parsing is bounded: names and labels at their RFC limits, compression pointers only backwards (so no loop),
/// one question, at most <see cref="MaxRecords"/> records in all, every length checked against the bytes present.
/// Authority and additional records are checked and skipped: the resolver never passes upstream bytes on.
/// </summary>
public sealed class DnsMessage
{
    public const ushort TypeA = 1;
    public const ushort TypeCname = 5;
    public const ushort TypeAaaa = 28;
    public const ushort ClassIn = 1;
    public const int HeaderLength = 12;
    public const int MaxName = 255;
    public const int MaxLabel = 63;

    /// <summary>Records of all sections together; more is not an answer worth reading.</summary>
    public const int MaxRecords = 256;

    private const int MaxPointers = 64;

    private DnsMessage(ushort id, ushort flags, DnsQuestion? question, IReadOnlyList<DnsRecord> answers)
    {
        Id = id;
        Flags = flags;
        Question = question;
        Answers = answers;
    }

    public ushort Id { get; }

    public ushort Flags { get; }

    public bool IsResponse => (Flags & 0x8000) != 0;

    public int Opcode => (Flags >> 11) & 0xF;

    /// <summary>TC: the answer did not fit (UDP); ask again over TCP.</summary>
    public bool Truncated => (Flags & 0x0200) != 0;

    public bool RecursionDesired => (Flags & 0x0100) != 0;

    public DnsResponseCode ResponseCode => (DnsResponseCode)(Flags & 0xF);

    /// <summary>The one question, or null when the message has none.</summary>
    public DnsQuestion? Question { get; }

    /// <summary>The answer section's records, in order.</summary>
    public IReadOnlyList<DnsRecord> Answers { get; }

    /// <summary>Reads <paramref name="packet"/>; never throws for any input.</summary>
    public static DnsParseError TryParse(ReadOnlySpan<byte> packet, out DnsMessage? message)
    {
        message = null;
        if (packet.Length > ushort.MaxValue)
        {
            return DnsParseError.TooLong;
        }

        if (packet.Length < HeaderLength)
        {
            return DnsParseError.Truncated;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(packet);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        int questions = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        int answers = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        int authority = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]);
        int additional = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);
        if (questions > 1 || answers + authority + additional > MaxRecords)
        {
            return DnsParseError.TooManyRecords;
        }

        var at = HeaderLength;
        DnsQuestion? question = null;
        if (questions == 1)
        {
            var error = ReadName(packet, ref at, out var name);
            if (error != DnsParseError.None)
            {
                return error;
            }

            if (at + 4 > packet.Length)
            {
                return DnsParseError.Truncated;
            }

            question = new DnsQuestion(name, BinaryPrimitives.ReadUInt16BigEndian(packet[at..]), BinaryPrimitives.ReadUInt16BigEndian(packet[(at + 2)..]));
            at += 4;
        }

        var records = new List<DnsRecord>(Math.Min(answers, 32));
        for (var i = 0; i < answers + authority + additional; i++)
        {
            var error = ReadRecord(packet, ref at, keep: i < answers, out var record);
            if (error != DnsParseError.None)
            {
                return error;
            }

            if (record is not null)
            {
                records.Add(record);
            }
        }

        message = new DnsMessage(id, flags, question, records);
        return DnsParseError.None;
    }

    private static DnsParseError ReadRecord(ReadOnlySpan<byte> packet, ref int at, bool keep, out DnsRecord? record)
    {
        record = null;
        var error = ReadName(packet, ref at, out var owner);
        if (error != DnsParseError.None)
        {
            // An OPT record (EDNS) in the additional section has the root as owner, which reads as "", so a bad name is bad.
            return error;
        }

        if (at + 10 > packet.Length)
        {
            return DnsParseError.Truncated;
        }

        var type = BinaryPrimitives.ReadUInt16BigEndian(packet[at..]);
        var cls = BinaryPrimitives.ReadUInt16BigEndian(packet[(at + 2)..]);
        var ttl = BinaryPrimitives.ReadUInt32BigEndian(packet[(at + 4)..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(packet[(at + 8)..]);
        at += 10;
        if (at + length > packet.Length)
        {
            return DnsParseError.Truncated;
        }

        var dataStart = at;
        at += length;
        if (!keep)
        {
            return DnsParseError.None;
        }

        // RFC 2181 §8: a TTL with the top bit set is read as zero.
        if (ttl > int.MaxValue)
        {
            ttl = 0;
        }

        if (cls == ClassIn && type == TypeA)
        {
            if (length != 4)
            {
                return DnsParseError.BadRecord;
            }

            record = new DnsRecord(owner, type, cls, ttl, new IPAddress(packet.Slice(dataStart, 4)), null);
            return DnsParseError.None;
        }

        if (cls == ClassIn && type == TypeCname)
        {
            var cursor = dataStart;
            var targetError = ReadName(packet[..(dataStart + length)], ref cursor, out var target);
            if (targetError != DnsParseError.None)
            {
                return targetError == DnsParseError.Truncated ? DnsParseError.BadRecord : targetError;
            }

            if (cursor != dataStart + length)
            {
                return DnsParseError.BadRecord;
            }

            record = new DnsRecord(owner, type, cls, ttl, null, target);
            return DnsParseError.None;
        }

        record = new DnsRecord(owner, type, cls, ttl, null, null);
        return DnsParseError.None;
    }

    /// <summary>
    /// Reads a (possibly compressed) name at <paramref name="at"/> into dotted text without the final dot ("" for the
    /// root), and moves <paramref name="at"/> past it. A pointer must point before the label that holds it, which
    /// rules out loops; its target is read only within <paramref name="packet"/>.
    /// </summary>
    internal static DnsParseError ReadName(ReadOnlySpan<byte> packet, ref int at, out string name)
    {
        name = "";
        Span<char> text = stackalloc char[MaxName];
        var textLength = 0;
        var wire = 1; // the root's length octet
        var cursor = at;
        var end = -1; // where the name ends in the original position, once a pointer is followed
        var pointers = 0;
        while (true)
        {
            if (cursor >= packet.Length)
            {
                return DnsParseError.Truncated;
            }

            int length = packet[cursor];
            if ((length & 0xC0) == 0xC0)
            {
                if (cursor + 1 >= packet.Length)
                {
                    return DnsParseError.Truncated;
                }

                var target = ((length & 0x3F) << 8) | packet[cursor + 1];
                if (target >= cursor || ++pointers > MaxPointers)
                {
                    return DnsParseError.BadPointer;
                }

                if (end < 0)
                {
                    end = cursor + 2;
                }

                cursor = target;
                continue;
            }

            if ((length & 0xC0) != 0)
            {
                return DnsParseError.BadLabel;
            }

            if (length == 0)
            {
                at = end < 0 ? cursor + 1 : end;
                name = new string(text[..textLength]);
                return DnsParseError.None;
            }

            wire += length + 1;
            if (wire > MaxName)
            {
                return DnsParseError.NameTooLong;
            }

            if (cursor + 1 + length > packet.Length)
            {
                return DnsParseError.Truncated;
            }

            if (textLength > 0)
            {
                text[textLength++] = '.';
            }

            foreach (var b in packet.Slice(cursor + 1, length))
            {
                if (!IsNameByte(b))
                {
                    return DnsParseError.BadCharacter;
                }

                text[textLength++] = (char)b;
            }

            cursor += 1 + length;
        }
    }

    /// <summary>Letters, digits, hyphen, underscore (service labels) and '*'; anything else is refused, never escaped.</summary>
    internal static bool IsNameByte(byte b) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'_' or (byte)'*';
}

/// <summary>The RCODEs the egress resolver sends or reads (RFC 1035 §4.1.1).</summary>
public enum DnsResponseCode
{
    NoError = 0,
    FormatError = 1,
    ServerFailure = 2,
    NameError = 3,
    NotImplemented = 4,
    Refused = 5,
}
