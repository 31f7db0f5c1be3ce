using System.Text.Json.Nodes;

namespace Moat.Host.Runtime;

/// <summary>Everything the OCI bundle of one sandbox is made from.</summary>
internal sealed record OciSandboxConfig
{
    public required string RootfsPath { get; init; }
    public required string Hostname { get; init; }
    public required string NetnsPath { get; init; }
    public required string CgroupsPath { get; init; }
    public required string InitBinary { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    public IReadOnlyList<string> Env { get; init; } = [];
    public string? VolumePath { get; init; }
    public long MemoryBytes { get; init; }
    public double Cpus { get; init; }
    public int Pids { get; init; }
    public bool LimitSwap { get; init; } = true;
}

/// <summary>
/// Writes the OCI runtime spec (config.json) of a sandbox: its own PID, mount, IPC, UTS and network namespaces,
/// cgroup limits, no new privileges, a reduced capability set, Moat's default seccomp profile, masked /proc paths.
/// </summary>
internal static class OciSpecBuilder
{
    public const string InitPathInSandbox = "/.moat/init";
    public const long CpuPeriodMicros = 100_000;

    /// <summary>Docker's default capability set less NET_RAW (raw sockets are how spoofing starts; ping works through
    /// ping_group_range instead) and MKNOD (devices come from the runtime's fixed list).</summary>
    public static readonly string[] Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
        "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    public static JsonObject Build(OciSandboxConfig c)
    {
        var args = new JsonArray(InitPathInSandbox, "--");
        foreach (var a in c.Command)
        {
            args.Add(a);
        }

        var env = new JsonArray("HOME=/root", "TERM=xterm");
        if (!c.Env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
        {
            env.Add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        }

        foreach (var e in c.Env)
        {
            env.Add(e);
        }

        var caps = new JsonArray(Capabilities.Select(x => (JsonNode)x).ToArray());
        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
            Mount(InitPathInSandbox, "bind", c.InitBinary, "bind", "ro", "nosuid", "nodev"),
        };
        if (c.VolumePath is not null)
        {
            mounts.Add(Mount("/data", "bind", c.VolumePath, "rbind", "rw", "nosuid", "nodev"));
        }

        var memory = new JsonObject { ["limit"] = c.MemoryBytes };
        if (c.LimitSwap)
        {
            // Equal limits on memory and memory+swap: a memory hog is stopped by the OOM killer, not by swapping the host.
            memory["swap"] = c.MemoryBytes;
        }

        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
                ["args"] = args,
                ["env"] = env,
                ["cwd"] = "/",
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = caps.DeepClone(),
                    ["effective"] = caps.DeepClone(),
                    ["permitted"] = caps.DeepClone(),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = 4096, ["soft"] = 4096 }),
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = c.RootfsPath, ["readonly"] = false },
            ["hostname"] = c.Hostname,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                ["namespaces"] = new JsonArray(
                    new JsonObject { ["type"] = "pid" },
                    new JsonObject { ["type"] = "ipc" },
                    new JsonObject { ["type"] = "uts" },
                    new JsonObject { ["type"] = "mount" },
                    new JsonObject { ["type"] = "cgroup" },
                    new JsonObject { ["type"] = "network", ["path"] = c.NetnsPath }),
                ["cgroupsPath"] = c.CgroupsPath,
                ["resources"] = new JsonObject
                {
                    ["devices"] = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" }),
                    ["memory"] = memory,
                    ["cpu"] = new JsonObject
                    {
                        ["quota"] = (long)Math.Round(c.Cpus * CpuPeriodMicros),
                        ["period"] = CpuPeriodMicros,
                    },
                    ["pids"] = new JsonObject { ["limit"] = c.Pids },
                },
                ["sysctl"] = new JsonObject { ["net.ipv4.ping_group_range"] = "0 2147483647" },
                ["seccomp"] = SeccompProfile.Default(),
                ["maskedPaths"] = new JsonArray(
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", "/proc/kallsyms"),
                ["readonlyPaths"] = new JsonArray("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"),
            },
        };
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = new JsonArray(options.Select(o => (JsonNode)o).ToArray()),
    };
}
