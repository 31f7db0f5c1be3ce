using Moat.Host.Agent;
using Moat.Host.Runtime;
using Moat.Linux;
using Moat.Linux.Mounts;

namespace Moat.Host.Rootfs;

/// <summary>
/// A sandbox's own disk: a sparse ext4 image loop-mounted (nosuid, nodev) as the sandbox's folder, which holds its
/// upper and work layers, its /data, its console log and its bundle. Whatever the sandbox writes, by any of those
/// paths, is bounded by the image's size: a sandbox that fills it gets ENOSPC, the host and its neighbours nothing.
/// </summary>
internal static class SandboxDisk
{
    /// <summary>Makes the image (about 50 ms and under 1 MiB of host disk for 1 GiB, measured in docs/sandboxes.md).</summary>
    public static async Task CreateAsync(string image, long bytes, CancellationToken cancellationToken = default)
    {
        var partial = image + ".partial";
        File.Delete(partial);
        await using (var file = new FileStream(partial, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = StateFolder.PrivateFile,
        }))
        {
            file.SetLength(bytes);
        }

        // Lazy table and journal initialisation: the kernel zeroes them in the background after the first mount, so
        // making the disk writes almost nothing; nodiscard: a new sparse file has nothing to discard.
        var r = await ProcessRunner.RunAsync("mkfs.ext4",
            ["-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", partial],
            timeout: TimeSpan.FromSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            File.Delete(partial);
            throw new MoatHostException($"cannot make the disk {image}: mkfs.ext4 exited {r.ExitCode}: {r.Diagnostic.Trim()}");
        }

        File.Move(partial, image);
    }

    /// <summary>Mounts the image at <paramref name="target"/> and keeps the file system's root 0700.</summary>
    public static void Mount(string image, string target)
    {
        try
        {
            LoopMount.Mount(image, target);
        }
        catch (LinuxException e)
        {
            throw new MoatHostException($"cannot mount the disk {image} at {target}: {e.Message}", e);
        }

        File.SetUnixFileMode(target, StateFolder.Private);
    }
}
