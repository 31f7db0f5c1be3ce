using System.Runtime.InteropServices;

namespace Moat.Detect.Kernel;

/// <summary>A kernel event source could not be set up (socket, bind, namespace); carries the errno.</summary>
public sealed class KernelSourceException : Exception
{
    public KernelSourceException()
    {
    }

    public KernelSourceException(string message)
        : base(message)
    {
    }

    public KernelSourceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public KernelSourceException(string operation, int errno)
        : base($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
    {
        Errno = errno;
    }

    public int Errno { get; }
}
