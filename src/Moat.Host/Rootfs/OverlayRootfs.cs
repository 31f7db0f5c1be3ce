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

    /// <summary>Whether <paramref name="target"/> is a mount point, from the kernel's machine-readable mountinfo.</summary>
    public static bool IsMounted(string target)
    {
        var full = Path.GetFullPath(target).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // Field 5 is the mount point, with spaces and the like escaped as octal.
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == full)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Mount points under a folder, for reconciliation.</summary>
    public static IReadOnlyList<string> MountsUnder(string folder)
    {
        var prefix = Path.GetFullPath(folder).TrimEnd('/') + "/";
        var list = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4)
            {
                var mp = Unescape(fields[4]);
                if (mp.StartsWith(prefix, StringComparison.Ordinal))
                {
                    list.Add(mp);
                }
            }
        }

        return list;
    }

    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
        {
            return s;
        }

        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }

        return sb.ToString();
    }
}
