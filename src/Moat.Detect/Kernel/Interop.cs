using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Detect.Kernel;

/// <summary>The libc calls the kernel event sources need: netlink sockets and entering a network namespace.</summary>
[SupportedOSPlatform("linux")]
internal static unsafe partial class Interop
{
    internal const int AfNetlink = 16;
    internal const int SockRaw = 3;
    internal const int SockCloexec = 0x80000;
    internal const int NetlinkNetfilter = 12;
    internal const int SolSocket = 1;
    internal const int SoRcvtimeo = 20;
    internal const int SoRcvbuf = 8;
    internal const int SolNetlink = 270;
    internal const int NetlinkAddMembership = 1;
    internal const int CloneNewNet = 0x40000000;
    internal const int Eagain = 11;
    internal const int Eintr = 4;
    internal const int Enobufs = 105;

    [StructLayout(LayoutKind.Sequential)]
    internal struct SockAddrNetlink
    {
        public ushort Family;
        public ushort Pad;
        public uint PortId;
        public uint Groups;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(SafeNetlinkHandle socket, SockAddrNetlink* address, int length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(SafeNetlinkHandle socket, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Receive(SafeNetlinkHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(SafeNetlinkHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNs(int fd, int nsType);
}

/// <summary>Owns a netlink socket descriptor.</summary>
[SupportedOSPlatform("linux")]
internal sealed class SafeNetlinkHandle : SafeHandle
{
    public SafeNetlinkHandle()
        : base(-1, ownsHandle: true)
    {
    }

    internal SafeNetlinkHandle(int fd)
        : base(-1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
