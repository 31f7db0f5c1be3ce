using Moat.Linux;
using Moat.Linux.Mounts;

namespace Moat.Host.Rootfs;

/// <summary>
/// A sandbox's copy-on-write root: overlayfs with the read-only image as lower layer and the sandbox's own upper
/// and work folders, so writes never reach the image and the image's pages are shared by every sandbox using it.
/// </summary>
internal static class OverlayRootfs
{
    public static async Task MountAsync(string lower, string upper, string work, string target, CancellationToken cancellationToken = default)
    {
        if (IsMounted(target))
        {
            return;
        }

        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(target);
        try
        {
            MountTable.MountOverlay(lower, upper, work, target);
        }
        catch (LinuxException e)
        {
            throw new MoatHostException($"cannot mount the root file system of {target}: {e.Message}", e);
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public static async Task UnmountAsync(string target, CancellationToken cancellationToken = default)
    {
        if (!IsMounted(target))
        {
            return;
        }

        try
        {
            MountTable.Unmount(target);
        }
        catch (LinuxException)
        {
            // Something still holds it (a process whose cwd is inside): detach it so the sandbox can still be removed.
            MountTable.Unmount(target, detach: true);
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>Whether <paramref name="target"/> is a mount point: one statx(2), not a read of the mount table, which
    /// grows by three lines with every sandbox (its disk, its overlay, its network namespace).</summary>
    public static bool IsMounted(string target) => MountTable.IsMountPoint(target);
}
