using Moat.Cli.Composition;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

[Trait("Category", "Integration")]
public sealed class SandboxLifecycleTests
{
    [Fact]
    public async Task Create_exec_pause_resume_stop_start_destroy_round_trip()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "life" });
        Assert.Equal(SandboxState.Running, s.State);
        Assert.NotNull(s.Address);

        var hello = await h.Client.ExecAsync("life", ["sh", "-c", "echo hello from $(hostname); exit 3"]);
        Assert.Equal(3, hello.ExitCode);
        Assert.Equal("hello from life\n", hello.Stdout);

        // Writes to the root file system and to the volume both survive a stop/start.
        Assert.Equal(0, (await h.Client.ExecAsync("life", ["sh", "-c", "echo kept > /etc/marker && echo vol > /data/v"])).ExitCode);

        var paused = await h.Client.PauseAsync("life");
        Assert.Equal(SandboxState.Paused, paused.State);
        Assert.Equal("paused", (await h.Client.InspectAsync("life")).RuntimeStatus);
        var resumed = await h.Client.ResumeAsync("life");
        Assert.Equal(SandboxState.Running, resumed.State);

        var stopped = await h.Client.StopAsync("life", graceSeconds: 5);
        Assert.Equal(SandboxState.Stopped, stopped.State);
        var execStopped = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ExecAsync("life", ["true"]));
        Assert.Contains("stopped", execStopped.Message, StringComparison.Ordinal);

        await h.Client.StartAsync("life");
        var after = await h.Client.ExecAsync("life", ["cat", "/etc/marker", "/data/v"]);
        Assert.Equal("kept\nvol\n", after.Stdout);

        var details = await h.Client.InspectAsync("life");
        await h.Client.DestroyAsync("life");
        Assert.Empty(await h.Client.ListAsync());
        await AssertGoneAsync(h, details);
    }

    [Fact]
    public async Task Main_command_output_is_in_the_logs_and_the_image_is_never_written()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Command = ["sh", "-c", "echo out; echo err >&2; touch /bin/new-file; sleep 600"] });
        // The command has run once its file exists in the overlay's upper layer.
        var upper = Path.Combine(h.Options.StateDir, "sandboxes", s.Id, "upper", "bin", "new-file");
        await WaitUntilAsync(() => File.Exists(upper));
        var logs = await h.Client.LogsAsync(s.Id);
        Assert.Contains("out\n", logs, StringComparison.Ordinal);
        Assert.Contains("err\n", logs, StringComparison.Ordinal);
        var lower = ImageCatalog.ForStateDir(h.Options.StateDir).Resolve("busybox").RootfsPath;
        Assert.True(File.Exists(Path.Combine(lower, "bin", "busybox")));
        Assert.False(File.Exists(Path.Combine(lower, "bin", "new-file")));
    }

    [Fact]
    public async Task Sandbox_has_its_own_namespaces_and_a_routed_address_reachable_only_from_the_host()
    {
        await using var h = await AgentHarness.StartAsync();
        var a = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "a" });
        var b = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "b" });

        // PID namespace: the init is PID 1 and the host's processes are invisible.
        var ps = await h.Client.ExecAsync("a", ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'"]);
        var lines = ps.Stdout.Split('\n');
        Assert.StartsWith("/.moat/init", lines[0], StringComparison.Ordinal);
        Assert.True(int.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture) < 10, ps.Stdout);

        // Network: eth0 holds exactly the /32 the agent assigned.
        var addr = await h.Client.ExecAsync("a", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        Assert.Contains($"inet {a.Address}/32", addr.Stdout, StringComparison.Ordinal);

        // The host reaches each sandbox; sandboxes do not reach each other (no shared L2, no forwarding): a TCP
        // listener in b is refused to a, then accepted from the host, which proves it was listening all along.
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", a.Address!)).Code);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", b.Address!)).Code);
        Assert.Equal(0, (await h.Client.ExecAsync("b", ["sh", "-c", "nc -l -p 7000 -e echo reached </dev/null >/dev/null 2>&1 &"])).ExitCode);
        await WaitUntilAsync(() => h.Client.ExecAsync("b", ["sh", "-c", "netstat -ltn | grep -q ':7000 '"]).Result.ExitCode == 0);
        var fromA = await h.Client.ExecAsync("a", ["sh", "-c", $"echo x | nc -w 2 {b.Address} 7000"]);
        Assert.DoesNotContain("reached", fromA.Stdout, StringComparison.Ordinal);
        var fromHost = await h.InHostNs("sh", "-c", $"echo x | busybox nc -w 2 {b.Address} 7000");
        Assert.Contains("reached", fromHost.Out, StringComparison.Ordinal);

        // Root inside cannot touch its own network configuration (no CAP_NET_ADMIN) or open raw sockets.
        Assert.NotEqual(0, (await h.Client.ExecAsync("a", ["ip", "addr", "add", "198.19.0.200/32", "dev", "eth0"])).ExitCode);
        Assert.NotEqual(0, (await h.Client.ExecAsync("a", ["ip", "route", "del", "default"])).ExitCode);
        Assert.NotEqual(0, (await h.Client.ExecAsync("a", ["arping", "-c", "1", "-I", "eth0", "169.254.1.1"])).ExitCode);

        // Seccomp and dropped capabilities: no mounts, no new namespaces, no clock changes.
        Assert.NotEqual(0, (await h.Client.ExecAsync("a", ["mount", "-t", "tmpfs", "x", "/mnt"])).ExitCode);
        Assert.NotEqual(0, (await h.Client.ExecAsync("a", ["unshare", "-n", "true"])).ExitCode);
        // busybox date exits 0 even when it cannot set the clock; its complaint is the evidence.
        Assert.Contains("not permitted", (await h.Client.ExecAsync("a", ["date", "-s", "2001-01-01"])).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_image_invalid_spec_and_exhausted_pool_each_fail_clearly_and_leave_nothing()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.1.0/30");
        var unknown = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Image = "nope" }));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("image 'nope'", unknown.Message, StringComparison.Ordinal);

        var bad = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Pids = 1 }));
        Assert.Equal(400, bad.Status);

        var tooBig = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { MemoryBytes = 1L << 50 }));
        Assert.Equal(409, tooBig.Status);

        await h.Client.CreateAsync(SandboxSpec.Default);
        await h.Client.CreateAsync(SandboxSpec.Default);
        var full = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default));
        Assert.Equal(409, full.Status);
        Assert.Contains("exhausted", full.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await h.Client.ListAsync()).Count);
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(h.Options.StateDir, "sandboxes")).Length);

        var dup = await Assert.ThrowsAsync<HostApiException>(async () =>
        {
            await h.Client.CreateAsync(SandboxSpec.Default with { Name = "twin" });
        });
        Assert.Equal(409, dup.Status);
    }

    [Fact]
    public async Task A_runtime_that_fails_half_way_leaves_no_container_mount_netns_or_record()
    {
        // A runc that really creates and starts the container, then reports failure: the worst kind of half-way.
        var wrapper = Path.Combine(Path.GetTempPath(), $"moat-flaky-runc-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(wrapper, """
            #!/bin/sh
            for a in "$@"; do [ "$a" = run ] && { runc "$@"; echo "flaky runtime: giving up after the start" >&2; exit 1; }; done
            exec runc "$@"
            """);
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            await using var h = await AgentHarness.StartAsync(runtime: wrapper);
            var e = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Name = "flaky" }));
            Assert.Equal(500, e.Status);
            Assert.Contains("could not start", e.Message, StringComparison.Ordinal);
            Assert.Empty(await h.Client.ListAsync());
            Assert.Empty(Directory.GetDirectories(Path.Combine(h.Options.StateDir, "sandboxes")));
            Assert.Empty(await h.Service<SandboxService>().Runtime.ListAsync());
            Assert.DoesNotContain(Path.Combine(h.Options.StateDir, "sandboxes"), await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
            Assert.DoesNotContain("mh", (await h.InHostNs("ip", "-o", "link")).Out, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(wrapper);
        }
    }

    internal static async Task AssertGoneAsync(AgentHarness h, SandboxDetails d)
    {
        Assert.False(File.Exists(Path.Combine("/run/netns", d.Netns)), $"netns {d.Netns} left");
        var link = await h.InHostNs("ip", "link", "show", d.HostInterface);
        Assert.NotEqual(0, link.Code);
        Assert.DoesNotContain(d.Rootfs, await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.GetDirectoryName(d.Rootfs)), "sandbox folder left");
        Assert.False(d.Volume is not null && Directory.Exists(d.Volume), "volume left");
        Assert.DoesNotContain(Directory.EnumerateDirectories("/sys/fs/cgroup").Select(c => Path.Combine(c, d.Cgroup.TrimStart('/'))), Directory.Exists);
        var runc = await AgentHarness.Sh("runc", "--root", Path.Combine(h.Options.StateDir, "runtime"), "state", d.Sandbox.Id);
        Assert.NotEqual(0, runc.Code);
    }

    /// <summary>Waits for a condition the test cannot be notified of, with a generous bound so a hang fails the test.</summary>
    internal static async Task WaitUntilAsync(Func<bool> condition, int seconds = 30)
#pragma warning disable xUnit1031 // the condition is a plain predicate polled off the test's own thread
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20);
        }
    }
#pragma warning restore xUnit1031
}
