namespace Moat.Host.Runtime;

/// <summary>
/// Direct access to a sandbox's cgroup files, for the few operations that must not pay for a runtime process
/// (changing a warm-pool sandbox's limits at claim time) and for removing cgroups a crash left behind.
/// </summary>
internal static class Cgroups
{
    public const string V1Root = "/sys/fs/cgroup";

    private static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio", "cpuset", "net_cls", "net_prio", "perf_event", "hugetlb", "systemd"];

    public static bool IsV1 { get; } = Directory.Exists(Path.Combine(V1Root, "memory"));

    public static void ApplyLimits(string cgroupPath, long memoryBytes, double cpus, int pids)
    {
        if (!IsV1)
        {
            var dir = Path.Combine(V1Root, cgroupPath.TrimStart('/'));
            File.WriteAllText(Path.Combine(dir, "memory.max"), memoryBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(dir, "cpu.max"), $"{(long)Math.Round(cpus * OciSpecBuilder.CpuPeriodMicros)} {OciSpecBuilder.CpuPeriodMicros}");
            File.WriteAllText(Path.Combine(dir, "pids.max"), pids.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return;
        }

        var mem = Path.Combine(V1Root, "memory", cgroupPath.TrimStart('/'));
        var memText = memoryBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var memsw = Path.Combine(mem, "memory.memsw.limit_in_bytes");
        // memory+swap must never be below memory: raise the pair in the order the kernel accepts.
        var current = long.Parse(File.ReadAllText(Path.Combine(mem, "memory.limit_in_bytes")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        if (memoryBytes > current)
        {
            if (File.Exists(memsw))
            {
                File.WriteAllText(memsw, memText);
            }

            File.WriteAllText(Path.Combine(mem, "memory.limit_in_bytes"), memText);
        }
        else
        {
            File.WriteAllText(Path.Combine(mem, "memory.limit_in_bytes"), memText);
            if (File.Exists(memsw))
            {
                File.WriteAllText(memsw, memText);
            }
        }

        File.WriteAllText(Path.Combine(V1Root, "cpu", cgroupPath.TrimStart('/'), "cpu.cfs_quota_us"),
            ((long)Math.Round(cpus * OciSpecBuilder.CpuPeriodMicros)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.WriteAllText(Path.Combine(V1Root, "pids", cgroupPath.TrimStart('/'), "pids.max"), pids.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>How many times the kernel's OOM killer killed a process of the cgroup at its memory limit; 0 when unknown.</summary>
    public static long OomKills(string cgroupPath)
    {
        var rel = cgroupPath.TrimStart('/');
        var file = IsV1 ? Path.Combine(V1Root, "memory", rel, "memory.oom_control") : Path.Combine(V1Root, rel, "memory.events");
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan("oom_kill ".Length), System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The cgroup is gone (sandbox destroyed or never started): nothing was counted that we can still see.
        }

        return 0;
    }

    /// <summary>The processes in the sandbox's cgroup now (from the pids hierarchy, or the unified one); empty when gone.</summary>
    public static IReadOnlyList<int> Processes(string cgroupPath)
    {
        var rel = cgroupPath.TrimStart('/');
        var candidates = IsV1
            ? new[] { Path.Combine(V1Root, "pids", rel), Path.Combine(V1Root, "memory", rel), Path.Combine(V1Root, "unified", rel) }
            : [Path.Combine(V1Root, rel)];
        foreach (var dir in candidates)
        {
            try
            {
                return File.ReadAllLines(Path.Combine(dir, "cgroup.procs"))
                    .Where(l => l.Length > 0)
                    .Select(l => int.Parse(l, System.Globalization.CultureInfo.InvariantCulture))
                    .ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not in this hierarchy: try the next
            }
        }

        return [];
    }

    /// <summary>Every cgroup folder of the path that exists now, across hierarchies.</summary>
    public static IReadOnlyList<string> Existing(string cgroupPath)
    {
        var rel = cgroupPath.TrimStart('/');
        var roots = IsV1 ? Controllers.Select(c => Path.Combine(V1Root, c)).Append(Path.Combine(V1Root, "unified")) : [V1Root];
        return roots.Select(r => Path.Combine(r, rel)).Where(Directory.Exists).ToList();
    }

    /// <summary>Removes the cgroup folders of a sandbox whose processes are all gone; a busy one is left and reported.</summary>
    public static IReadOnlyList<string> Remove(string cgroupPath)
    {
        var left = new List<string>();
        foreach (var dir in Existing(cgroupPath))
        {
            try
            {
                Directory.Delete(dir);
            }
            catch (IOException)
            {
                left.Add(dir);
            }
        }

        return left;
    }
}
