using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Linux;

/// <summary>
/// The file calls: open, the *at() calls and openat2, with which <see cref="Files.RootedDirectory"/> writes and
/// <see cref="Files.RootedReader"/> reads trees the host does not trust. Each call is declared here once.
/// </summary>
[SupportedOSPlatform("linux")]
internal static partial class Interop
{
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_RDWR = 2;
    internal const int O_CREAT = 0x40;
    internal const int O_EXCL = 0x80;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_PATH = 0x200000;

    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_REMOVEDIR = 0x200;

    internal const uint S_IFCHR = 0x2000;

    internal const ulong RESOLVE_NO_XDEV = 0x01;
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    internal const ulong RESOLVE_NO_SYMLINKS = 0x04;
    internal const ulong RESOLVE_BENEATH = 0x08;
    internal const ulong RESOLVE_IN_ROOT = 0x10;

    /// <summary>Beneath the directory, through no symbolic link, magic link or mount: how a tree is walked entry by entry and written.</summary>
    internal const ulong ResolveBeneathNoSymlinks = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

    /// <summary>With the directory as "/" (absolute links and ".." stay inside), no magic link or mount: how the tree's own programs see it.</summary>
    internal const ulong ResolveInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

    internal const int O_NONBLOCK = 0x800;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    /// <summary>Bytes of struct statx (its layout is the same on every architecture).</summary>
    internal const int StatxSize = 256;

    internal const long UTIME_OMIT = (1L << 30) - 2;

    private const nint SYS_openat2 = 437;
    private const nint SYS_fchmodat2 = 452;

    /// <summary>struct open_how of openat2(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>struct timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint SyscallOpenAt2(nint number, SafeFileDescriptor dirfd, string path, OpenHow* how, nuint size);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint SyscallFchmodAt2(nint number, SafeFileDescriptor dirfd, string path, uint mode, int flags);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkDir(string path, int mode);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenAt(SafeFileDescriptor dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkDirAt(SafeFileDescriptor dirfd, string path, uint mode);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int SymlinkAt(string target, SafeFileDescriptor dirfd, string path);

    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkNodAt(SafeFileDescriptor dirfd, string path, uint mode, ulong device);

    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int FSetXattr(SafeFileDescriptor fd, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int LinkAt(SafeFileDescriptor oldDirfd, string oldPath, SafeFileDescriptor newDirfd, string newPath, int flags);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int UnlinkAt(SafeFileDescriptor dirfd, string path, int flags);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int FchownAt(SafeFileDescriptor dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int UtimensAt(SafeFileDescriptor dirfd, string path, TimeSpec* times, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int StatxAt(SafeFileDescriptor dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    internal static unsafe partial nint GetDents64(SafeFileDescriptor fd, byte* buffer, nuint count);

    /// <summary>openat2(2): opens <paramref name="path"/> under <paramref name="dirfd"/> with the given resolve restrictions.</summary>
    internal static unsafe int OpenAt2(SafeFileDescriptor dirfd, string path, int flags, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)flags, Resolve = resolve };
        return (int)SyscallOpenAt2(SYS_openat2, dirfd, path, &how, (nuint)sizeof(OpenHow));
    }

    /// <summary>fchmodat2(2) (Linux 6.6), which, unlike glibc's fchmodat, honours AT_SYMLINK_NOFOLLOW without /proc.</summary>
    internal static int FchmodAt2(SafeFileDescriptor dirfd, string path, uint mode, int flags) =>
        (int)SyscallFchmodAt2(SYS_fchmodat2, dirfd, path, mode, flags);
}
