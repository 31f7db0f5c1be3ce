using Moat.Host.Runtime;

namespace Moat.Host.Tests.Sandboxes;

public sealed class OciSpecBuilderTests
{
    private static readonly OciSandboxConfig Config = new()
    {
        RootfsPath = "/state/sandboxes/abc/rootfs",
        Hostname = "web",
        NetnsPath = "/run/netns/moat-abc",
        CgroupsPath = "/moat/abc",
        InitBinary = "/opt/moat/moat-init",
        Command = ["sh", "-c", "echo hi"],
        Env = ["A=1"],
        VolumePath = "/state/volumes/abc",
        MemoryBytes = 64L << 20,
        Cpus = 0.5,
        Pids = 100,
    };

    [Fact]
    public void Build_isolates_in_every_namespace_and_joins_the_prepared_netns()
    {
        var spec = OciSpecBuilder.Build(Config);
        var ns = spec["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!).ToHashSet();
        Assert.Superset(new HashSet<string> { "pid", "ipc", "uts", "mount", "network" }, ns);
        var net = spec["linux"]!["namespaces"]!.AsArray().Single(n => (string)n!["type"]! == "network");
        Assert.Equal("/run/netns/moat-abc", (string)net!["path"]!);
    }

    [Fact]
    public void Build_sets_limits_from_the_spec()
    {
        var r = OciSpecBuilder.Build(Config)["linux"]!["resources"]!;
        Assert.Equal(64L << 20, (long)r["memory"]!["limit"]!);
        Assert.Equal(64L << 20, (long)r["memory"]!["swap"]!);
        Assert.Equal(50_000L, (long)r["cpu"]!["quota"]!);
        Assert.Equal(100_000L, (long)r["cpu"]!["period"]!);
        Assert.Equal(100, (int)r["pids"]!["limit"]!);
    }

    [Fact]
    public void Build_runs_the_command_under_the_init_without_new_privileges_or_raw_sockets()
    {
        var spec = OciSpecBuilder.Build(Config);
        var args = spec["process"]!["args"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.Equal(new[] { "/.moat/init", "--", "sh", "-c", "echo hi" }, args);
        Assert.True((bool)spec["process"]!["noNewPrivileges"]!);
        var caps = spec["process"]!["capabilities"]!["bounding"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.DoesNotContain("CAP_NET_RAW", caps);
        Assert.DoesNotContain("CAP_SYS_ADMIN", caps);
        var denied = spec["linux"]!["seccomp"]!["syscalls"]![0]!["names"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.Contains("kexec_load", denied);
        Assert.Contains("bpf", denied);
    }

    [Fact]
    public void Build_mounts_init_read_only_and_volume_at_data()
    {
        var mounts = OciSpecBuilder.Build(Config)["mounts"]!.AsArray();
        var init = mounts.Single(m => (string)m!["destination"]! == "/.moat/init");
        Assert.Contains("ro", init!["options"]!.AsArray().Select(o => (string)o!));
        var data = mounts.Single(m => (string)m!["destination"]! == "/data");
        Assert.Equal("/state/volumes/abc", (string)data!["source"]!);
    }

    [Fact]
    public void Build_keeps_the_image_path_when_it_sets_one()
    {
        var spec = OciSpecBuilder.Build(Config with { Env = ["PATH=/opt/bin"] });
        var env = spec["process"]!["env"]!.AsArray().Select(e => (string)e!).Where(e => e.StartsWith("PATH=", StringComparison.Ordinal)).ToArray();
        Assert.Equal(new[] { "PATH=/opt/bin" }, env);
    }
}
