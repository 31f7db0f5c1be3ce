using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace Moat.Monitor.Interop;

/// <summary>Native calls used by the monitor: netlink sockets, fanotify, poll and stat.</summary>
[SupportedOSPlatform("linux")]
internal static partial class Interop
{
    internal const int AF_NETLINK = 16;
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int SOCK_NONBLOCK = 0x800;
    internal const int NETLINK_CONNECTOR = 11;
    internal const int SOL_SOCKET = 1;
    internal const int SO_RCVBUFFORCE = 33;
    internal const int MSG_DONTWAIT = 0x40;

    internal const uint FAN_CLASS_NOTIF = 0;
    internal const uint FAN_CLOEXEC = 1;
    internal const uint FAN_NONBLOCK = 2;
    internal const uint FAN_MARK_ADD = 1;
    internal const uint FAN_MARK_REMOVE = 2;
    internal const uint FAN_MARK_MOUNT = 0x10;
    internal const uint FAN_MARK_FILESYSTEM = 0x100;
    internal const ulong FAN_OPEN_EXEC = 0x1000;
    internal const ulong FAN_Q_OVERFLOW = 0x4000;
    internal const int AT_FDCWD = -100;
    internal const uint O_RDONLY = 0;
    internal const uint O_LARGEFILE = 0x8000;
    internal const uint O_CLOEXEC = 0x80000;

    internal const short POLLIN = 1;

    internal const int EINTR = 4;
    internal const int EAGAIN = 11;
    internal const int ENFILE = 23;
    internal const int EMFILE = 24;
    internal const int ENOBUFS = 105;

    [StructLayout(LayoutKind.Sequential)]
    internal struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>The fields of struct stat (x86_64 layout, 144 bytes) the monitor needs.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    internal struct Stat
    {
        [FieldOffset(0)] public ulong Dev;
        [FieldOffset(8)] public ulong Ino;
        [FieldOffset(16)] public ulong Nlink;
        [FieldOffset(24)] public uint Mode;
        [FieldOffset(48)] public long Size;
        [FieldOffset(88)] public long MtimeSec;
        [FieldOffset(96)] public long MtimeNsec;
        [FieldOffset(104)] public long CtimeSec;
        [FieldOffset(112)] public long CtimeNsec;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(SafeFileHandle fd, in SockaddrNl addr, int addrLen);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(SafeFileHandle fd, int level, int name, in int value, int len);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(SafeFileHandle fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(SafeFileHandle fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(SafeFileHandle fd, byte* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "fanotify_init", SetLastError = true)]
    internal static partial int FanotifyInit(uint flags, uint eventFileFlags);

    [LibraryImport("libc", EntryPoint = "fanotify_mark", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int FanotifyMark(SafeFileHandle fd, uint flags, ulong mask, int dirFd, string path);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    internal static partial int FStat(SafeFileHandle fd, out Stat stat);

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int StatPath(string path, out Stat stat);

    internal static SafeFileHandle OwnHandle(int fd) => new((IntPtr)fd, ownsHandle: true);
}
