using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Linux;

/// <summary>The libc calls Moat.Linux makes; every descriptor they return is wrapped in a <see cref="SafeFileDescriptor"/>.</summary>
[SupportedOSPlatform("linux")]
internal static partial class Interop
{
    internal const int AF_NETLINK = 16;
    internal const int SOCK_RAW = 3;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int NETLINK_ROUTE = 0;
    internal const int SOL_NETLINK = 270;
    internal const int SOL_SOCKET = 1;
    internal const int SO_RCVBUF = 8;
    internal const int SO_SNDBUF = 7;
    internal const int SO_RCVTIMEO = 20;
    internal const int NETLINK_CAP_ACK = 10;
    internal const int NETLINK_EXT_ACK = 11;

    internal const int CLONE_NEWNS = 0x00020000;
    internal const int CLONE_NEWNET = 0x40000000;

    internal const ulong MS_RDONLY = 1;
    internal const ulong MS_REMOUNT = 32;
    internal const ulong MS_NOSUID = 2;
    internal const ulong MS_NODEV = 4;
    internal const ulong MS_BIND = 4096;
    internal const ulong MS_REC = 16384;
    internal const ulong MS_PRIVATE = 1 << 18;
    internal const ulong MS_SHARED = 1 << 20;

    internal const int MNT_DETACH = 2;


    // linux/loop.h
    internal const ulong LOOP_CTL_GET_FREE = 0x4C82;
    internal const ulong SIOCGSKNS = 0x894C;
    internal const ulong LOOP_CONFIGURE = 0x4C0A;
    internal const uint LO_FLAGS_AUTOCLEAR = 4;

    internal const int EINTR = 4;
    internal const int EBUSY = 16;
    internal const int EAGAIN = 11;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static unsafe partial int SetSockOpt(SafeFileDescriptor fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(SafeFileDescriptor fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(SafeFileDescriptor fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNs(SafeFileDescriptor fd, int nstype);

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    internal static partial int Unshare(int flags);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string? source, string target, string? fileSystemType, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int Ioctl(SafeFileDescriptor fd, ulong request, void* argument);

    [LibraryImport("libc", EntryPoint = "gettid")]
    internal static partial int GetTid();

    /// <summary>Throws <see cref="LinuxException"/> for the errno of the call that just returned <paramref name="result"/> &lt; 0.</summary>
    internal static int Check(int result, string operation) =>
        result >= 0 ? result : throw new LinuxException(Marshal.GetLastPInvokeError(), operation);

    internal static int LastErrno => Marshal.GetLastPInvokeError();

    internal static SafeFileDescriptor OpenReadOnly(string path) =>
        new(Check(Open(path, O_RDONLY | O_CLOEXEC, 0), $"open {path}"));
}
