using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Linux;

/// <summary>Owns one Linux file descriptor (socket, namespace file) and closes it exactly once.</summary>
[SupportedOSPlatform("linux")]
internal sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public SafeFileDescriptor(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    /// <summary>AT_FDCWD: the *at() calls resolve a relative path against the working directory (never closed).</summary>
    public static SafeFileDescriptor CurrentDirectory { get; } = new(Interop.AT_FDCWD, ownsHandle: false);

    private SafeFileDescriptor(int fd, bool ownsHandle)
        : base(invalidHandleValue: -1, ownsHandle) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor number, for passing inside a netlink attribute (IFLA_NET_NS_FD).</summary>
    public int Number => (int)handle;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
