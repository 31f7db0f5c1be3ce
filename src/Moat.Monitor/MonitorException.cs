using System.Runtime.InteropServices;

namespace Moat.Monitor;

/// <summary>A broken invariant or an unusable kernel interface inside the monitor.</summary>
public class MonitorException : MoatException
{
    public MonitorException(string message) : base(ErrorKind.Internal, message) { }

    public MonitorException(string message, Exception inner) : base(ErrorKind.Internal, message, inner) { }

    public MonitorException(string message, ErrorKind kind, Exception? inner = null) : base(kind, message, inner) { }
}

/// <summary>A kernel call the monitor depends on failed with an errno.</summary>
public sealed class MonitorKernelException : MonitorException
{
    public MonitorKernelException(string call, int errno)
        : base($"{call} failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).") => Errno = errno;

    public int Errno { get; }
}
