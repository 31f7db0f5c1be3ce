namespace Moat.Monitor.Identify;

/// <summary>
/// The default pid → sandbox mapping: the host agent places each sandbox in cgroup <c>/moat/&lt;sandbox-id&gt;</c>
/// in every hierarchy, so the sandbox is read from <c>/proc/PID/cgroup</c>.
/// </summary>
public static class CgroupSandboxResolver
{
    /// <summary>Returns the sandbox id of a live process, or null for host processes and processes already gone.</summary>
    public static string? Resolve(int pid)
    {
        try
        {
            return Parse(File.ReadAllText($"/proc/{pid}/cgroup"));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Finds the sandbox id in the text of a /proc/PID/cgroup file (v1 or v2 lines).</summary>
    public static string? Parse(string cgroupFile)
    {
        foreach (string line in cgroupFile.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int second = line.IndexOf(':', line.IndexOf(':') + 1);
            if (second < 0)
            {
                continue;
            }

            string path = line[(second + 1)..];
            int at = path.IndexOf("/moat/", StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            string rest = path[(at + "/moat/".Length)..];
            int slash = rest.IndexOf('/');
            string id = slash < 0 ? rest : rest[..slash];
            if (id.Length > 0)
            {
                return id;
            }
        }

        return null;
    }
}
