using System.Runtime.InteropServices;

namespace Moat.Linux;

/// <summary>A Linux call failed where Moat expected it to succeed; carries the errno and the operation.</summary>
public class LinuxException : MoatException
{
    public LinuxException(int errno, string operation)
        : this(errno, operation, null)
    {
    }

    public LinuxException(int errno, string operation, string? detail)
        : base(KindOf(errno), Describe(errno, operation, detail))
    {
        Errno = errno;
        Operation = operation;
    }

    /// <summary>The positive errno value (e.g. 17 for EEXIST).</summary>
    public int Errno { get; }

    /// <summary>What was being done, e.g. "mount /run/netns/x" or "RTM_NEWLINK veth mtlh0".</summary>
    public string Operation { get; }

    /// <summary>EPERM and EACCES are a refusal (not root, no capability); every other errno is Moat's own failure.</summary>
    private static ErrorKind KindOf(int errno) => errno is Linux.Errno.EPERM or Linux.Errno.EACCES ? ErrorKind.Refused : ErrorKind.Internal;

    private static string Describe(int errno, string operation, string? detail)
    {
        var text = $"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).";
        return detail is null ? text : $"{text} Kernel says: {detail}.";
    }
}

/// <summary>The kernel answered a netlink request with an error; <see cref="LinuxException.Errno"/> is its errno.</summary>
public sealed class NetlinkException : LinuxException
{
    public NetlinkException(int errno, string operation, string? kernelMessage)
        : base(errno, operation, kernelMessage) => KernelMessage = kernelMessage;

    /// <summary>The extended-ACK text the kernel attached, when it gave one.</summary>
    public string? KernelMessage { get; }
}

/// <summary>Well-known errno values that callers of Moat.Linux test for.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENODEV = 19;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int EFBIG = 27;
    public const int ERANGE = 34;
    public const int ELOOP = 40;
    public const int EOPNOTSUPP = 95;
    public const int EADDRNOTAVAIL = 99;
}
