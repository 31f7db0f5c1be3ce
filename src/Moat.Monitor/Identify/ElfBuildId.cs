using System.Buffers.Binary;

namespace Moat.Monitor.Identify;

/// <summary>Reads bytes of a file at an offset; returns how many were read (0 at end of file).</summary>
internal delegate int ReadAt(long offset, Span<byte> destination);

/// <summary>
/// Extracts the GNU build-id (NT_GNU_BUILD_ID in a PT_NOTE segment) from an ELF32 or ELF64 file of either
/// byte order, and whether the file names a program interpreter (PT_INTERP: the kernel opens that loader for
/// execution too). Every length and offset is checked, so a hostile or truncated file yields null, never an
/// exception or an oversized read.
/// </summary>
internal static class ElfBuildId
{
    private const uint PT_INTERP = 3;
    private const uint PT_NOTE = 4;
    private const uint NT_GNU_BUILD_ID = 3;
    private const int MaxProgramHeaders = 512;
    private const int MaxNoteSegmentBytes = 64 * 1024;
    private const int MaxBuildIdBytes = 64;

    public static string? TryRead(byte[] file) => TryRead((offset, destination) =>
    {
        if (offset < 0 || offset >= file.Length)
        {
            return 0;
        }

        int count = (int)Math.Min(destination.Length, file.Length - offset);
        file.AsSpan((int)offset, count).CopyTo(destination);
        return count;
    });

    public static string? TryRead(ReadAt read) => Inspect(read).BuildId;

    /// <summary>The build-id (null if none or not ELF) and whether the file has a PT_INTERP segment.</summary>
    public static (string? BuildId, bool Interpreted) Inspect(ReadAt read)
    {
        Span<byte> header = stackalloc byte[64];
        if (ReadExactly(read, 0, header) < 52 || header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
        {
            return (null, false);
        }

        if (header[4] is not (1 or 2) || header[5] is not (1 or 2))
        {
            return (null, false);
        }

        bool is64 = header[4] == 2;
        bool little = header[5] == 1;
        var reader = new Reader(little);
        ulong phoff = is64 ? reader.U64(header[0x20..]) : reader.U32(header[0x1C..]);
        int phentsize = reader.U16(header[(is64 ? 0x36 : 0x2A)..]);
        int phnum = reader.U16(header[(is64 ? 0x38 : 0x2C)..]);
        int minEntry = is64 ? 56 : 32;
        if (phentsize < minEntry || phnum == 0 || phnum > MaxProgramHeaders || phoff > long.MaxValue / 2)
        {
            return (null, false);
        }

        Span<byte> phdr = stackalloc byte[56];
        string? buildId = null;
        bool interpreted = false;
        for (int i = 0; i < phnum; i++)
        {
            long at = (long)phoff + ((long)i * phentsize);
            if (ReadExactly(read, at, phdr[..minEntry]) < minEntry)
            {
                return (null, false);
            }

            uint type = reader.U32(phdr);
            interpreted |= type == PT_INTERP;
            if (type != PT_NOTE || buildId is not null)
            {
                continue;
            }

            ulong offset = is64 ? reader.U64(phdr[8..]) : reader.U32(phdr[4..]);
            ulong size = is64 ? reader.U64(phdr[32..]) : reader.U32(phdr[16..]);
            if (size == 0 || size > MaxNoteSegmentBytes || offset > long.MaxValue / 2)
            {
                continue;
            }

            var notes = new byte[size];
            if (ReadExactly(read, (long)offset, notes) < notes.Length)
            {
                continue;
            }

            buildId = FindBuildId(notes, reader);
        }

        return (buildId, interpreted);
    }

    private static string? FindBuildId(ReadOnlySpan<byte> notes, Reader reader)
    {
        while (notes.Length >= 12)
        {
            uint nameSize = reader.U32(notes);
            uint descSize = reader.U32(notes[4..]);
            uint type = reader.U32(notes[8..]);
            long nameEnd = 12 + Align4(nameSize);
            long descEnd = nameEnd + Align4(descSize);
            if (nameSize > (uint)notes.Length || descSize > (uint)notes.Length || descEnd > notes.Length)
            {
                return null;
            }

            if (type == NT_GNU_BUILD_ID && nameSize == 4 && notes[12..16].SequenceEqual("GNU\0"u8)
                && descSize is > 0 and <= MaxBuildIdBytes)
            {
                return Convert.ToHexStringLower(notes.Slice((int)nameEnd, (int)descSize));
            }

            notes = notes[(int)descEnd..];
        }

        return null;
    }

    private static long Align4(uint value) => ((long)value + 3) & ~3L;

    private static int ReadExactly(ReadAt read, long offset, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = read(offset + total, destination[total..]);
            if (n <= 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    private readonly struct Reader(bool little)
    {
        public ushort U16(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);

        public uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);

        public ulong U64(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt64LittleEndian(s) : BinaryPrimitives.ReadUInt64BigEndian(s);
    }
}
