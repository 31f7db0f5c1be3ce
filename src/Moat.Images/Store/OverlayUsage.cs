namespace Moat.Images.Store;

/// <summary>Tells whether an image's root file system is the lower layer of a mounted overlay (a running sandbox).</summary>
public static class OverlayUsage
{
    /// <summary>
    /// True when an overlay mount visible in this mount namespace lists <paramref name="rootfsPath"/> among its lower
    /// directories. Sandboxes mounted in other mount namespaces are invisible here; the host agent's own records cover those.
    /// </summary>
    public static bool IsMountedLower(string rootfsPath, string mountInfoPath = "/proc/self/mountinfo")
    {
        string wanted = Path.GetFullPath(rootfsPath).TrimEnd('/');
        foreach (string line in File.ReadLines(mountInfoPath))
        {
            // "… - overlay overlay rw,lowerdir=/a:/b,upperdir=…": super options follow the " - " separator.
            int separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
            {
                continue;
            }

            string[] tail = line[(separator + 3)..].Split(' ');
            if (tail.Length < 3 || tail[0] != "overlay")
            {
                continue;
            }

            foreach (string option in tail[2].Split(','))
            {
                if (option.StartsWith("lowerdir=", StringComparison.Ordinal)
                    && option["lowerdir=".Length..].Split(':').Any(dir => dir.TrimEnd('/') == wanted))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
