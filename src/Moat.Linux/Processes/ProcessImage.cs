using System.Runtime.InteropServices;
using System.Text;

namespace Moat.Linux.Processes;

/// <summary>Hands this process over to another program (execv): same pid, same descriptors, same signals, and its exit
/// code is this process's exit code. Used by the CLI's native front to pass a verb it does not serve to the full CLI.</summary>
public static class ProcessImage
{
    /// <summary>Replaces this process with <paramref name="path"/> run with <paramref name="argv"/> (argv[0] first).
    /// Returns only when the kernel refused, with the reason.</summary>
    public static LinuxException Replace(string path, IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0)
        {
            throw new ArgumentException("argv needs at least argv[0].", nameof(argv));
        }

        // The strings are copied to unmanaged memory: execv reads them after the marshaller would have freed its copies.
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return new LinuxException(22, "execv", "the program path holds a NUL character");
        }

        var pointers = new nint[argv.Count + 1];
        try
        {
            for (var i = 0; i < argv.Count; i++)
            {
                if (argv[i].Contains('\0', StringComparison.Ordinal))
                {
                    return new LinuxException(22, $"execv {path}", $"argument {i} holds a NUL character");
                }

                var bytes = Encoding.UTF8.GetBytes(argv[i] + '\0');
                pointers[i] = Marshal.AllocHGlobal(bytes.Length);
                Marshal.Copy(bytes, 0, pointers[i], bytes.Length);
            }

            Interop.Execv(path, pointers);
            return new LinuxException(Marshal.GetLastPInvokeError(), $"execv {path}");
        }
        finally
        {
            foreach (var p in pointers)
            {
                if (p != 0)
                {
                    Marshal.FreeHGlobal(p);
                }
            }
        }
    }
}
