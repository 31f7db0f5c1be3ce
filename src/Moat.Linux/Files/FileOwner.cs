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
    public static unsafe (uint Uid, uint Gid) Of(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // struct statx: stx_mask (u32), stx_blksize (u32), stx_attributes (u64), stx_nlink (u32), stx_uid (u32),
        // stx_gid (u32), ... 256 bytes in all.
        var buffer = stackalloc byte[256];
        Interop.Check(Interop.Statx(Interop.AT_FDCWD, path, 0, Interop.STATX_UID | Interop.STATX_GID, buffer), $"statx {path}");
        return (*(uint*)(buffer + 20), *(uint*)(buffer + 24));
    }

    /// <summary>Gives <paramref name="path"/> to <paramref name="uid"/>:<paramref name="gid"/> (chown(2)).</summary>
    public static void Set(string path, uint uid, uint gid)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Interop.Check(Interop.Chown(path, uid, gid), $"chown {path}");
    }
}
