using System.Runtime.Versioning;

namespace Moat.Linux.Files;

/// <summary>
/// File ownership, which .NET does not expose: a secret written by root for a service running as another user
/// (Prosody) is made 0600 and then given to that user, so that only the service (and root) can read it.
/// </summary>
[SupportedOSPlatform("linux")]
public static class FileOwner
{
    /// <summary>The owner and group of <paramref name="path"/> (statx(2); follows symbolic links).</summary>
    public static (uint Uid, uint Gid) Of(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int errno = StatxFields.Read(SafeFileDescriptor.CurrentDirectory, path, 0, out var status);
        return errno == 0 ? (status.Uid, status.Gid) : throw new LinuxException(errno, $"statx {path}");
    }

    /// <summary>Gives <paramref name="path"/> to <paramref name="uid"/>:<paramref name="gid"/> (chown(2)).</summary>
    public static void Set(string path, uint uid, uint gid)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Interop.Check(Interop.Chown(path, uid, gid), $"chown {path}");
    }
}
