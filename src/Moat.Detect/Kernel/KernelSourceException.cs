using System.Runtime.InteropServices;

namespace Moat.Detect.Kernel;

/// <summary>A kernel event source could not be set up (socket, bind, namespace); carries the errno.</summary>
public sealed class KernelSourceException : MoatException
{
    public KernelSourceException()
        : base(ErrorKind.Internal, "a kernel event source could not be set up.")
    {
    }

    public KernelSourceException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public KernelSourceException(string message, Exception innerException)
        : base(ErrorKind.Internal, message, innerException)
    {
    }

    public KernelSourceException(string operation, int errno)
        : base(errno is 1 or 13 ? ErrorKind.Refused : ErrorKind.Internal, $"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
    {
        Errno = errno;
    }

    public int Errno { get; }
}
