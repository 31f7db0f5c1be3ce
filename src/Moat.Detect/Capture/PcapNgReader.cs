using System.Buffers.Binary;

namespace Moat.Detect.Capture;

/// <summary>pcapng (draft-ietf-opsawg-pcapng): sections of either byte order, IDB with if_tsresol, EPB, SPB, obsolete PB.</summary>
internal static class PcapNgReader
{
    private const uint SectionHeaderType = 0x0A0D0D0A;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const uint InterfaceDescriptionType = 1;
    private const uint ObsoletePacketType = 2;
    private const uint SimplePacketType = 3;
    private const uint EnhancedPacketType = 6;
    private const ushort OptionEnd = 0;
    private const ushort OptionTsResol = 9;
    private const ushort OptionTsOffset = 14;

    /// <summary>Bounds the interface table so a hostile file cannot grow it without limit.</summary>
    private const int MaxInterfaces = 4096;

    /// <summary>Blocks larger than this are refused: far bigger than any frame plus options.</summary>
    private const uint MaxBlockLength = 16 * 1024 * 1024;

    internal static bool IsPcapNg(ReadOnlySpan<byte> file) =>
        file.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(file) == SectionHeaderType;

    internal static IEnumerable<CapturedPacket> Read(ReadOnlyMemory<byte> file)
    {
        var state = new SectionState();
        long offset = 0;
        while (offset < file.Length)
        {
            var packet = ReadBlock(file, state, ref offset);
            if (packet is { } p)
            {
                yield return p;
            }
        }
    }

    private static CapturedPacket? ReadBlock(ReadOnlyMemory<byte> file, SectionState state, ref long offset)
    {
        var span = file.Span;
        long start = offset;
        if (file.Length - offset < 12)
        {
            throw new CaptureFormatException("A pcapng block header is truncated", offset);
        }

        var head = span[(int)offset..];
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (type == SectionHeaderType)
        {
            // The byte order of a section is only known from its own header, so it is read before the length.
            if (head.Length < 28)
            {
                throw new CaptureFormatException("A pcapng section header block is truncated", offset);
            }

            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
            if (magic == ByteOrderMagic)
            {
                state.BigEndian = false;
            }
            else if (BinaryPrimitives.ReverseEndianness(magic) == ByteOrderMagic)
            {
                state.BigEndian = true;
            }
            else
            {
                throw new CaptureFormatException($"A pcapng section header has an unknown byte-order magic 0x{magic:x8}", offset);
            }

            state.Interfaces.Clear();
        }
        else if (state.BigEndian is null)
        {
            throw new CaptureFormatException("The pcapng file does not begin with a section header block", offset);
        }

        bool big = state.BigEndian!.Value;
        type = U32(head, big);
        uint length = U32(head[4..], big);
        if (length < 12 || length % 4 != 0 || length > MaxBlockLength)
        {
            throw new CaptureFormatException($"A pcapng block has an invalid length {length}", offset);
        }

        if (length > file.Length - offset)
        {
            throw new CaptureFormatException("A pcapng block is truncated", offset);
        }

        var block = head[..(int)length];
        if (U32(block[^4..], big) != length)
        {
            throw new CaptureFormatException("A pcapng block's trailing length does not match its leading length", offset);
        }

        var body = block[8..^4];
        long bodyOffset = start + 8;
        offset += length;
        switch (type)
        {
            case InterfaceDescriptionType:
                ReadInterface(body, big, state, bodyOffset);
                return null;
            case EnhancedPacketType:
                return ReadEnhanced(file, body, big, state, bodyOffset);
            case SimplePacketType:
                return ReadSimple(file, body, big, state, bodyOffset);
            case ObsoletePacketType:
                return ReadObsolete(file, body, big, state, bodyOffset);
            default:
                return null; // Section headers were handled above; every other block type is skipped by design.
        }
    }

    private static void ReadInterface(ReadOnlySpan<byte> body, bool big, SectionState state, long offset)
    {
        if (body.Length < 8)
        {
            throw new CaptureFormatException("A pcapng interface description block is truncated", offset);
        }

        if (state.Interfaces.Count >= MaxInterfaces)
        {
            throw new CaptureFormatException($"The pcapng section declares more than {MaxInterfaces} interfaces", offset);
        }

        var linkType = (LinkType)U16(body, big);
        uint snapLength = U32(body[4..], big);
        ulong unitsPerSecond = 1_000_000;
        long offsetSeconds = 0;
        var options = body[8..];
        while (options.Length >= 4)
        {
            ushort code = U16(options, big);
            ushort optionLength = U16(options[2..], big);
            int padded = (optionLength + 3) & ~3;
            if (code == OptionEnd)
            {
                break;
            }

            if (4 + padded > options.Length)
            {
                throw new CaptureFormatException("A pcapng interface option runs past its block", offset);
            }

            var value = options.Slice(4, optionLength);
            if (code == OptionTsResol && optionLength >= 1)
            {
                unitsPerSecond = ResolutionToUnits(value[0], offset);
            }
            else if (code == OptionTsOffset && optionLength >= 8)
            {
                offsetSeconds = big ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value);
            }

            options = options[(4 + padded)..];
        }

        state.Interfaces.Add(new Interface(linkType, snapLength, unitsPerSecond, offsetSeconds));
    }

    private static ulong ResolutionToUnits(byte resolution, long offset)
    {
        int exponent = resolution & 0x7F;
        if ((resolution & 0x80) != 0)
        {
            if (exponent > 63)
            {
                throw new CaptureFormatException($"if_tsresol 2^-{exponent} is beyond what a 64-bit timestamp can hold", offset);
            }

            return 1UL << exponent;
        }

        if (exponent > 19)
        {
            throw new CaptureFormatException($"if_tsresol 10^-{exponent} is beyond what a 64-bit timestamp can hold", offset);
        }

        ulong units = 1;
        for (int i = 0; i < exponent; i++)
        {
            units *= 10;
        }

        return units;
    }

    private static CapturedPacket ReadEnhanced(ReadOnlyMemory<byte> file, ReadOnlySpan<byte> body, bool big, SectionState state, long offset)
    {
        if (body.Length < 20)
        {
            throw new CaptureFormatException("A pcapng enhanced packet block is truncated", offset);
        }

        var iface = Lookup(state, U32(body, big), offset);
        ulong units = ((ulong)U32(body[4..], big) << 32) | U32(body[8..], big);
        uint captured = U32(body[12..], big);
        uint original = U32(body[16..], big);
        if (captured > body.Length - 20)
        {
            throw new CaptureFormatException($"A pcapng enhanced packet claims {captured} bytes, more than its block holds", offset);
        }

        return new CapturedPacket(
            Timestamp(units, iface, offset),
            iface.LinkType,
            Clamp(original),
            file.Slice((int)offset + 20, (int)captured));
    }

    private static CapturedPacket ReadSimple(ReadOnlyMemory<byte> file, ReadOnlySpan<byte> body, bool big, SectionState state, long offset)
    {
        if (body.Length < 4)
        {
            throw new CaptureFormatException("A pcapng simple packet block is truncated", offset);
        }

        var iface = Lookup(state, 0, offset);
        uint original = U32(body, big);
        long captured = Math.Min(original, body.Length - 4);
        if (iface.SnapLength != 0)
        {
            captured = Math.Min(captured, iface.SnapLength);
        }

        // A simple packet block has no timestamp; the epoch marks "unknown" rather than inventing one.
        return new CapturedPacket(DateTimeOffset.UnixEpoch, iface.LinkType, Clamp(original), file.Slice((int)offset + 4, (int)captured));
    }

    private static CapturedPacket ReadObsolete(ReadOnlyMemory<byte> file, ReadOnlySpan<byte> body, bool big, SectionState state, long offset)
    {
        if (body.Length < 20)
        {
            throw new CaptureFormatException("A pcapng packet block is truncated", offset);
        }

        var iface = Lookup(state, U16(body, big), offset);
        ulong units = ((ulong)U32(body[4..], big) << 32) | U32(body[8..], big);
        uint captured = U32(body[12..], big);
        uint original = U32(body[16..], big);
        if (captured > body.Length - 20)
        {
            throw new CaptureFormatException($"A pcapng packet block claims {captured} bytes, more than its block holds", offset);
        }

        return new CapturedPacket(Timestamp(units, iface, offset), iface.LinkType, Clamp(original), file.Slice((int)offset + 20, (int)captured));
    }

    private static Interface Lookup(SectionState state, uint id, long offset)
    {
        if (id >= state.Interfaces.Count)
        {
            throw new CaptureFormatException($"A pcapng packet names interface {id}, but the section declares {state.Interfaces.Count}", offset);
        }

        return state.Interfaces[(int)id];
    }

    private static DateTimeOffset Timestamp(ulong units, Interface iface, long offset)
    {
        if (!Timestamps.TryFromUnits(units, iface.UnitsPerSecond, out var timestamp))
        {
            throw new CaptureFormatException("A pcapng packet timestamp is beyond the year 9999", offset);
        }

        if (iface.OffsetSeconds != 0)
        {
            long seconds = Math.Clamp(iface.OffsetSeconds, -1_000_000_000_000L, 1_000_000_000_000L);
            var shifted = timestamp.ToUnixTimeSeconds() + seconds;
            if (shifted < 0 || shifted > 253_402_300_799)
            {
                throw new CaptureFormatException("A pcapng if_tsoffset moves a timestamp out of range", offset);
            }

            timestamp = timestamp.AddSeconds(seconds);
        }

        return timestamp;
    }

    private static int Clamp(uint value) => value > int.MaxValue ? int.MaxValue : (int)value;

    private static uint U32(ReadOnlySpan<byte> span, bool big) =>
        big ? BinaryPrimitives.ReadUInt32BigEndian(span) : BinaryPrimitives.ReadUInt32LittleEndian(span);

    private static ushort U16(ReadOnlySpan<byte> span, bool big) =>
        big ? BinaryPrimitives.ReadUInt16BigEndian(span) : BinaryPrimitives.ReadUInt16LittleEndian(span);

    private readonly record struct Interface(LinkType LinkType, uint SnapLength, ulong UnitsPerSecond, long OffsetSeconds);

    private sealed class SectionState
    {
        public bool? BigEndian { get; set; }

        public List<Interface> Interfaces { get; } = [];
    }
}
