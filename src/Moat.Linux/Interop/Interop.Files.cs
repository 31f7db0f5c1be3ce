using System.Runtime.InteropServices;

namespace Moat.Linux;

/// <summary>The calls that open and stat paths inside a tree the host does not trust (openat2, statx).</summary>
internal static partial class Interop
{
    internal const long SYS_openat2 = 437; // the same number on every architecture (added after the syscall table was unified)

    internal const ulong O_PATH = 0x200000;
    internal const ulong O_NONBLOCK = 0x800;

    internal const ulong RESOLVE_NO_XDEV = 0x01;
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    internal const ulong RESOLVE_NO_SYMLINKS = 0x04;
    internal const ulong RESOLVE_BENEATH = 0x08;
    internal const ulong RESOLVE_IN_ROOT = 0x10;

    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    internal const int StatxSize = 256;

    /// <summary>struct open_how (linux/openat2.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial long SyscallOpenat2(long number, int dirfd, string path, OpenHow* how, nuint size);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Statx(SafeFileDescriptor dirfd, string path, int flags, uint mask, byte* buffer);

    internal static unsafe int Openat2(SafeFileDescriptor dirfd, string path, ulong flags, ulong resolve)
    {
        var how = new OpenHow { Flags = flags | O_CLOEXEC_64, Resolve = resolve };
        bool added = false;
        dirfd.DangerousAddRef(ref added);
        try
        {
            return (int)SyscallOpenat2(SYS_openat2, dirfd.Number, path, &how, (nuint)sizeof(OpenHow));
        }
        finally
        {
            if (added)
            {
                dirfd.DangerousRelease();
            }
        }
    }

    private const ulong O_CLOEXEC_64 = 0x80000;
}
