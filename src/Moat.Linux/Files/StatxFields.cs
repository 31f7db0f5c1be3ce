using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Linux.Files;

/// <summary>The fields of struct statx (linux/stat.h, one layout on every architecture, in the host's byte order) that Moat reads.</summary>
[SupportedOSPlatform("linux")]
internal readonly record struct StatxFields(
    ushort Mode, uint Uid, uint Gid, long Size, ulong Inode, uint LinkCount, long ModifiedSeconds, uint ModifiedNanoseconds, uint DeviceMajor, uint DeviceMinor)
{
    private const int TypeMask = 0xF000;

    /// <summary>The file-type bits (S_IFMT) of <see cref="Mode"/>.</summary>
    public int Type => Mode & TypeMask;

    /// <summary>statx(2) of <paramref name="path"/> below <paramref name="dir"/>; returns 0, or the errno when it fails.</summary>
    public static unsafe int Read(SafeFileDescriptor dir, string path, int flags, out StatxFields fields)
    {
        byte* buffer = stackalloc byte[Interop.StatxSize];
        if (Interop.StatxAt(dir, path, flags, Interop.STATX_BASIC_STATS, buffer) < 0)
        {
            fields = default;
            return Interop.LastErrno;
        }

        var statx = new ReadOnlySpan<byte>(buffer, Interop.StatxSize);
        fields = new StatxFields(
            Mode: MemoryMarshal.Read<ushort>(statx[28..]),
            Uid: MemoryMarshal.Read<uint>(statx[20..]),
            Gid: MemoryMarshal.Read<uint>(statx[24..]),
            Size: MemoryMarshal.Read<long>(statx[40..]),
            Inode: MemoryMarshal.Read<ulong>(statx[32..]),
            LinkCount: MemoryMarshal.Read<uint>(statx[16..]),
            ModifiedSeconds: MemoryMarshal.Read<long>(statx[112..]),
            ModifiedNanoseconds: MemoryMarshal.Read<uint>(statx[120..]),
            DeviceMajor: MemoryMarshal.Read<uint>(statx[128..]),
            DeviceMinor: MemoryMarshal.Read<uint>(statx[132..]));
        return 0;
    }
}
