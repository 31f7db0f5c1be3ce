using System.Runtime.InteropServices;

namespace Moat.Honeyfarm;

/// <summary>A honeyfarm invariant broke or the kernel refused a change the farm needs.</summary>
public class HoneyfarmException(string message, Exception? inner = null, ErrorKind kind = ErrorKind.Internal) : MoatException(kind, message, inner);

/// <summary>A system call failed; <see cref="Errno"/> is the kernel's reason.</summary>
public sealed class HoneyfarmSystemException(int errno, string operation)
    : HoneyfarmException($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", kind: errno is 1 or 13 ? ErrorKind.Refused : ErrorKind.Internal)
{
    public int Errno { get; } = errno;
}
