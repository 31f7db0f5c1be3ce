using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace Moat.Linux;

internal static partial class Interop
{
    /// <summary>The *at calls: everything relative to an open directory, so that no path is resolved again by name.</summary>
    [SupportedOSPlatform("linux")]
    internal static partial class DirectoryAt
    {
        internal const int O_WRONLY = 0x1;
        internal const int O_DIRECTORY = 0x10000;
        internal const int O_NOFOLLOW = 0x20000;
        internal const int AT_SYMLINK_NOFOLLOW = 0x100;
        internal const int AT_EMPTY_PATH = 0x1000;

        internal const uint S_IFMT = 0xF000;
        internal const uint S_IFDIR = 0x4000;
        internal const uint S_IFREG = 0x8000;
        internal const uint S_IFLNK = 0xA000;
        internal const uint S_IFCHR = 0x2000;

        internal const int ENOENT = 2;
        internal const int EEXIST = 17;
        internal const int ENOTDIR = 20;
        internal const int ELOOP = 40;

        /// <summary>struct timespec.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        /// <summary>struct statx, up to stx_mnt_id (the fields Moat reads; the kernel writes 256 bytes).</summary>
        [StructLayout(LayoutKind.Sequential, Size = 256)]
        internal struct Statx
        {
            public uint Mask;
            public uint BlkSize;
            public ulong Attributes;
            public uint NLink;
            public uint Uid;
            public uint Gid;
            public ushort Mode;
        }

        [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int OpenAt(SafeFileHandle dir, string name, int flags, int mode);

        [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MkDirAt(SafeFileHandle dir, string name, int mode);

        [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int SymlinkAt(string target, SafeFileHandle dir, string name);

        [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int LinkAt(SafeFileHandle fromDir, string fromName, SafeFileHandle toDir, string toName, int flags);

        [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MkNodAt(SafeFileHandle dir, string name, uint mode, ulong device);

        [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int FChownAt(SafeFileHandle dir, string name, int uid, int gid, int flags);

        [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
        internal static partial int FChown(SafeFileHandle fd, int uid, int gid);

        [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
        internal static unsafe partial int FUtimens(SafeFileHandle fd, TimeSpec* times);

        [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
        internal static partial int FChmod(SafeFileHandle fd, uint mode);

        [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int FSetXattr(SafeFileHandle fd, string name, byte* value, nuint size, int flags);

        [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int UtimensAt(SafeFileHandle dir, string name, TimeSpec* times, int flags);

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int StatxCall(SafeFileHandle dir, string name, int flags, uint mask, Statx* buffer);

        internal static SafeFileHandle Handle(int fd, string operation) => new((IntPtr)Check(fd, operation), ownsHandle: true);
    }
}
