using System.Runtime.InteropServices;

namespace Moat.Linux;

internal static partial class Interop
{
    /// <summary>execv(2): replaces this process's image; returns only on failure.</summary>
    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Execv(string path, nint[] argv);
}
