using System.Buffers.Binary;
using System.Diagnostics;
using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

public sealed class ElfBuildIdTests
{
    [Theory]
    [InlineData("/bin/busybox")]
    [InlineData("/usr/bin/dpkg")]
    [InlineData("/usr/bin/sqlite3")]
    public void TryRead_RealBinaries_MatchesReadelf(string path)
    {
        string? expected = ReadelfBuildId(path);
        Assert.NotNull(expected);
        Assert.Equal(expected, ElfBuildId.TryRead(File.ReadAllBytes(path)));
    }

    [Theory]
    [InlineData("/bin/busybox")]
    [InlineData("/bin/ls")]
    [InlineData("/usr/bin/sqlite3")]
    [InlineData("/lib64/ld-linux-x86-64.so.2")]
    public void Inspect_RealBinaries_SaysWhetherTheyNameAnInterpreter_AsReadelfDoes(string path)
    {
        var psi = new ProcessStartInfo("readelf", ["-lW", path]) { RedirectStandardOutput = true };
        using var readelf = Process.Start(psi)!;
        bool expected = readelf.StandardOutput.ReadToEnd().Contains(" INTERP ", StringComparison.Ordinal);
        readelf.WaitForExit();
        byte[] file = File.ReadAllBytes(path);
        Assert.Equal(expected, ElfBuildId.Inspect((offset, destination) =>
        {
            int count = (int)Math.Clamp(file.Length - offset, 0, destination.Length);
            file.AsSpan((int)Math.Min(offset, file.Length), count).CopyTo(destination);
            return count;
        }).Interpreted);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void TryRead_HandMadeElf_FindsBuildIdInAnyClassAndByteOrder(bool is64, bool little)
    {
        byte[] id = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04];
        Assert.Equal("deadbeef01020304", ElfBuildId.TryRead(MakeElf(is64, little, id)));
    }

    [Fact]
    public void TryRead_NotElfOrTruncated_ReturnsNull()
    {
        Assert.Null(ElfBuildId.TryRead("#!/bin/sh\necho hi\n"u8.ToArray()));
        Assert.Null(ElfBuildId.TryRead([]));
        byte[] elf = MakeElf(true, true, [1, 2, 3, 4]);
        Assert.Null(ElfBuildId.TryRead(elf[..60]));
        Assert.Null(ElfBuildId.TryRead(elf[..^4]));
    }

    [Fact]
    public void TryRead_NoteSizesPointingOutside_ReturnsNullWithoutThrowing()
    {
        byte[] elf = MakeElf(true, true, [1, 2, 3, 4]);
        int note = NoteOffset(elf);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(note + 4), uint.MaxValue); // descsz
        Assert.Null(ElfBuildId.TryRead(elf));

        elf = MakeElf(true, true, [1, 2, 3, 4]);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(note), 0xFFFFFFF0); // namesz
        Assert.Null(ElfBuildId.TryRead(elf));

        elf = MakeElf(true, true, [1, 2, 3, 4]);
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(64 + 8), ulong.MaxValue); // p_offset
        Assert.Null(ElfBuildId.TryRead(elf));
    }

    [Fact]
    public void TryRead_RandomCorruptionsOfARealBinaryHeader_NeverThrow()
    {
        byte[] original = File.ReadAllBytes("/bin/busybox")[..8192];
        var random = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            byte[] copy = (byte[])original.Clone();
            for (int k = 0; k < 8; k++)
            {
                copy[random.Next(0, 1024)] = (byte)random.Next(256);
            }

            _ = ElfBuildId.TryRead(copy);
        }
    }

    private static int NoteOffset(byte[] elf) => 64 + 56;

    /// <summary>An ELF header, one PT_NOTE program header, then a GNU build-id note.</summary>
    private static byte[] MakeElf(bool is64, bool little, byte[] id)
    {
        int ehdr = is64 ? 64 : 52, phdr = is64 ? 56 : 32;
        int noteAt = ehdr + phdr;
        int noteSize = 12 + 4 + id.Length;
        var b = new byte[noteAt + noteSize];
        void U16(int at, int v) { if (little) { BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), (ushort)v); } else { BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), (ushort)v); } }
        void U32(int at, long v) { if (little) { BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)v); } else { BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), (uint)v); } }
        void U64(int at, long v) { if (little) { BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), (ulong)v); } else { BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(at), (ulong)v); } }
        b[0] = 0x7f; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F';
        b[4] = (byte)(is64 ? 2 : 1);
        b[5] = (byte)(little ? 1 : 2);
        b[6] = 1;
        if (is64)
        {
            U64(0x20, ehdr); U16(0x36, phdr); U16(0x38, 1);
            U32(ehdr, 4); U64(ehdr + 8, noteAt); U64(ehdr + 32, noteSize);
        }
        else
        {
            U32(0x1C, ehdr); U16(0x2A, phdr); U16(0x2C, 1);
            U32(ehdr, 4); U32(ehdr + 4, noteAt); U32(ehdr + 16, noteSize);
        }

        U32(noteAt, 4); U32(noteAt + 4, id.Length); U32(noteAt + 8, 3);
        "GNU\0"u8.CopyTo(b.AsSpan(noteAt + 12));
        id.CopyTo(b.AsSpan(noteAt + 16));
        return b;
    }

    private static string? ReadelfBuildId(string path)
    {
        var psi = new ProcessStartInfo("readelf") { RedirectStandardOutput = true };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("Build ID:", StringComparison.Ordinal))?["Build ID:".Length..].Trim();
    }
}
