using System.Runtime.InteropServices;

namespace Moat.Honeyfarm;

/// <summary>A honeyfarm invariant broke or the kernel refused a change the farm needs.</summary>
public class HoneyfarmException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A system call failed; <see cref="Errno"/> is the kernel's reason.</summary>
public sealed class HoneyfarmSystemException(int errno, string operation)
    : HoneyfarmException($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).")
{
    public int Errno { get; } = errno;
}
