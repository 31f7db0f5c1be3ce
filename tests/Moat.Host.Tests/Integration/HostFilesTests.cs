using System.Globalization;
using Moat.Host.Sandboxes;
using Moat.Linux.Mounts;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Local users and tenants' files on the host: what a container-tier sandbox writes (its root is the host's root)
/// must give no other local user anything, and a sandbox filling its disk must fill only its own.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class HostFilesTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    [Fact]
    public async Task Setuid_files_a_tenant_writes_are_out_of_reach_of_local_users()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "tenant" });
        var planted = await h.Client.ExecAsync("tenant", ["sh", "-c", "for f in /suid /data/suid; do cp /bin/busybox $f && chmod 4755 $f || exit 1; done"]);
        Assert.True(planted.ExitCode == 0, planted.Stderr);

        var d = await h.Client.InspectAsync("tenant");
        var sandboxDir = Path.Combine(h.Options.StateDir, "sandboxes", s.Id);
        foreach (var path in new[] { Path.Combine(d.Rootfs, "suid"), Path.Combine(d.Volume!, "suid"), Path.Combine(sandboxDir, "upper", "suid") })
        {
            Assert.True(File.Exists(path), path);
            Assert.True((File.GetUnixFileMode(path) & UnixFileMode.SetUser) != 0, path);
            // Another local user cannot even find it.
            Assert.NotEqual(0, (await AsNobody("test", "-e", path)).Code);
        }

        // The host-side mounts of the sandbox (its root file system, its disk) run no setuid file and open no device.
        var mounts = MountTable.List(sandboxDir);
        Assert.NotEmpty(mounts);
        foreach (var m in mounts)
        {
            Assert.Contains("nosuid", m.Options.Split(','));
            Assert.Contains("nodev", m.Options.Split(','));
        }

        AssertClosed(h.Options.StateDir);
    }

    [Fact]
    public async Task A_restarted_agent_closes_a_state_folder_an_older_version_left_open()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "old" });
        Assert.Equal(0, (await h.Client.ExecAsync("old", ["sh", "-c", "echo kept > /data/f && echo kept > /etc/f"])).ExitCode);
        await h.StopAgentAsync();

        // As an older version left it: folders 0755, the store 0644.
        var state = h.Options.StateDir;
        foreach (var dir in new[] { state, Path.Combine(state, "sandboxes"), Path.Combine(state, "volumes"), Path.Combine(state, "runtime"), Path.Combine(state, "sandboxes", s.Id) })
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
        }

        File.SetUnixFileMode(Path.Combine(state, "store.db"), (UnixFileMode)0x1A4);

        await h.StartAgentAsync();
        AssertClosed(state);
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(state, "sandboxes", s.Id)));
        Assert.Equal("kept\nkept\n", (await h.Client.ExecAsync("old", ["cat", "/data/f", "/etc/f"])).Stdout);
    }

    [Fact]
    public async Task A_disk_filler_fills_only_its_own_sandbox()
    {
        const long disk = 64 * SandboxSpec.MiB;
        await using var h = await AgentHarness.StartAsync(configure: o => o with { DiskBytes = disk });
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "filler" });
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "neighbour", DiskBytes = 48 * SandboxSpec.MiB });
        var before = await HostBytesAsync(h.Options.StateDir);

        // More than the disk, by the root file system and by /data: each stops at ENOSPC inside the sandbox.
        foreach (var target in new[] { "/fill", "/data/fill" })
        {
            var dd = await h.Client.ExecAsync("filler", ["sh", "-c", $"dd if=/dev/zero of={target} bs=1M count=256 2>&1"]);
            Assert.NotEqual(0, dd.ExitCode);
            Assert.Contains("No space left on device", dd.Stdout, StringComparison.Ordinal);
        }

        // On the host's file system the state folder grew by at most the filler's disk (plus ext4's own tables).
        var grown = await HostBytesAsync(h.Options.StateDir) - before;
        Assert.True(grown <= disk + (8 * SandboxSpec.MiB), $"the state folder grew by {grown} bytes on the host's file system");

        // The neighbour keeps working, with a disk of the size it asked for; the filler still answers and recovers.
        var n = await h.Client.ExecAsync("neighbour", ["sh", "-c", "echo ok > /data/n && echo ok > /n && cat /data/n /n && df -k /data | tail -1"]);
        Assert.True(n.ExitCode == 0, n.Stderr);
        var lines = n.Stdout.Split('\n');
        Assert.Equal(["ok", "ok"], lines[..2]);
        var size = long.Parse(lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        Assert.InRange(size, 36 * SandboxSpec.MiB, 48 * SandboxSpec.MiB); // less ext4's journal and tables
        Assert.Equal(0, (await h.Client.ExecAsync("filler", ["sh", "-c", "rm /fill /data/fill && echo back > /data/b"])).ExitCode);
    }

    [Fact]
    public async Task The_console_log_is_cut_back_under_its_cap_behind_a_marker()
    {
        const long cap = 256 * 1024;
        await using var h = await AgentHarness.StartAsync(configure: o => o with { ConsoleLogBytes = cap, ConsoleLogInterval = TimeSpan.FromMilliseconds(100) });
        var s = await h.Client.CreateAsync(SandboxSpec.Default with
        {
            Name = "noisy",
            Command = ["sh", "-c", "head -c 20971520 /dev/zero | tr '\\0' x; echo; echo the-end; sleep 600"],
        });
        var log = Path.Combine(h.Options.StateDir, "sandboxes", s.Id, "console.log");
        await SandboxLifecycleTests.WaitUntilAsync(
            () => File.Exists(log) && new FileInfo(log).Length <= cap && File.ReadAllText(log).EndsWith("the-end\n", StringComparison.Ordinal), seconds: 60);
        Assert.Contains("[moat: console log passed its cap of 262144 bytes", await File.ReadAllTextAsync(log), StringComparison.Ordinal);
        Assert.EndsWith("xxxx\nthe-end\n", await h.Client.LogsAsync("noisy"), StringComparison.Ordinal);
    }

    /// <summary>The state folder 0711 (traversable, not listable), what is in it 0700/0600, the API socket root's.</summary>
    private static void AssertClosed(string state)
    {
        Assert.Equal(Private | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(state));
        foreach (var dir in new[] { "sandboxes", "volumes", "runtime" })
        {
            Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(state, dir)));
        }

        foreach (var file in new[] { "store.db", "agent.sock" })
        {
            Assert.True((File.GetUnixFileMode(Path.Combine(state, file)) & GroupOrOther) == 0, $"{file} is {File.GetUnixFileMode(Path.Combine(state, file))}");
        }
    }

    private static Task<(int Code, string Out)> AsNobody(params string[] command) =>
        AgentHarness.Sh(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", .. command]);

    /// <summary>Bytes the folder takes on the host's file system (du -x: the sandboxes' own mounts are not counted,
    /// their disk images are).</summary>
    private static async Task<long> HostBytesAsync(string folder)
    {
        var (code, output) = await AgentHarness.Sh("du", "-sx", "--block-size=1", folder);
        Assert.True(code == 0, output);
        return long.Parse(output.Split('\t')[0], CultureInfo.InvariantCulture);
    }
}
