using System.Buffers.Binary;

namespace Moat.Detect.Capture;

/// <summary>Classic libpcap files: either byte order, microsecond or nanosecond magic.</summary>
internal static class PcapReader
{
    internal const uint MagicMicroseconds = 0xA1B2C3D4;
    internal const uint MagicNanoseconds = 0xA1B23C4D;
    private const int GlobalHeaderLength = 24;
    private const int RecordHeaderLength = 16;

    /// <summary>No real link layer frame is bigger; a larger record length means the file is corrupt.</summary>
    internal const int MaxRecordLength = 256 * 1024;

    internal static IEnumerable<CapturedPacket> Read(ReadOnlyMemory<byte> file)
    {
        var header = ReadHeader(file.Span);
        long offset = GlobalHeaderLength;
        while (offset < file.Length)
        {
            var packet = ReadRecord(file, header, ref offset);
            yield return packet;
        }
    }

    private static Header ReadHeader(ReadOnlySpan<byte> file)
    {
        if (file.Length < GlobalHeaderLength)
        {
            throw new CaptureFormatException("The pcap global header is truncated", 0);
        }

        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool bigEndian;
        bool nanoseconds;
        switch (magic)
        {
            case MagicMicroseconds: bigEndian = false; nanoseconds = false; break;
            case MagicNanoseconds: bigEndian = false; nanoseconds = true; break;
            default:
                uint swapped = BinaryPrimitives.ReverseEndianness(magic);
                if (swapped == MagicMicroseconds)
                {
                    bigEndian = true;
                    nanoseconds = false;
                }
                else if (swapped == MagicNanoseconds)
                {
                    bigEndian = true;
                    nanoseconds = true;
                }
                else
                {
                    throw new CaptureFormatException($"Unknown capture magic 0x{magic:x8}: expected pcap or pcapng", 0);
                }

                break;
        }

        // The upper bits of the link type field carry FCS information (pcap-savefile(5)); only the low 16 name the link.
        uint linkType = U32(file[20..], bigEndian) & 0xFFFF;
        return new Header(bigEndian, nanoseconds ? 1_000_000_000UL : 1_000_000UL, (LinkType)linkType);
    }

    private static CapturedPacket ReadRecord(ReadOnlyMemory<byte> file, Header header, ref long offset)
    {
        var span = file.Span;
        if (file.Length - offset < RecordHeaderLength)
        {
            throw new CaptureFormatException("A pcap record header is truncated", offset);
        }

        var record = span[(int)offset..];
        uint seconds = U32(record, header.BigEndian);
        uint fraction = U32(record[4..], header.BigEndian);
        uint included = U32(record[8..], header.BigEndian);
        uint original = U32(record[12..], header.BigEndian);
        if (included > MaxRecordLength)
        {
            throw new CaptureFormatException($"A pcap record claims {included} captured bytes, more than {MaxRecordLength}", offset);
        }

        if (included > file.Length - offset - RecordHeaderLength)
        {
            throw new CaptureFormatException("A pcap record's data is truncated", offset);
        }

        if (fraction >= header.UnitsPerSecond)
        {
            throw new CaptureFormatException($"A pcap record's sub-second timestamp {fraction} is out of range", offset);
        }

        Timestamps.TryFromUnits(((ulong)seconds * header.UnitsPerSecond) + fraction, header.UnitsPerSecond, out var timestamp);
        var data = file.Slice((int)offset + RecordHeaderLength, (int)included);
        offset += RecordHeaderLength + included;
        int originalLength = original > int.MaxValue ? int.MaxValue : (int)original;
        return new CapturedPacket(timestamp, header.LinkType, originalLength, data);
    }

    private static uint U32(ReadOnlySpan<byte> span, bool bigEndian) =>
        bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(span) : BinaryPrimitives.ReadUInt32LittleEndian(span);

    private readonly record struct Header(bool BigEndian, ulong UnitsPerSecond, LinkType LinkType);
}
