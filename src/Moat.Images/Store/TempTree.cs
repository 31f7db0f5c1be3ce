namespace Moat.Images.Store;

/// <summary>Removes a scratch tree safely: mounts a build tool left inside it are detached first, so a recursive
/// delete can never walk into the host's /proc, /sys or /dev.</summary>
internal static class TempTree
{
    internal static void Delete(string path)
    {
        if (!Directory.Exists(path) && !File.Exists(path))
        {
            return;
        }

        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (string mountPoint in MountsUnder(full).OrderByDescending(m => m.Length))
        {
            Interop.Libc.DetachMount(mountPoint);
        }

        if (MountsUnder(full).Count > 0)
        {
            throw new IOException($"{full} still has mounts inside it; refusing to delete it.");
        }

        Directory.Delete(full, recursive: true);
    }

    private static List<string> MountsUnder(string prefix)
    {
        var result = new List<string>();
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // Field 5 is the mount point, with spaces and the like escaped as \040 octal.
            string[] fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            string mountPoint = Unescape(fields[4]);
            if (mountPoint == prefix || mountPoint.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                result.Add(mountPoint);
            }
        }

        return result;
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var builder = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                builder.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                builder.Append(field[i]);
            }
        }

        return builder.ToString();
    }
}
