using System.Text.RegularExpressions;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// The gvisor tier against the real runsc: the same lifecycle as the container tier, a kernel the sandbox cannot see
/// past, a network through the same veth, and tier selection by trust.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class GvisorTierTests
{
    private static readonly SandboxSpec Gvisor = SandboxSpec.Default with { Tier = RuntimeTier.Gvisor };

    [Fact]
    public async Task Gvisor_sandbox_create_exec_logs_pause_resume_stop_start_destroy_round_trip()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(Gvisor with { Name = "gv", Command = ["sh", "-c", "echo out; echo err >&2; exec sleep 100000"] });
        Assert.Equal(SandboxState.Running, s.State);
        Assert.Equal(RuntimeTier.Gvisor, s.Tier);
        Assert.Equal(RuntimeTier.Gvisor, s.Spec.Tier);

        var hello = await h.Client.ExecAsync("gv", ["sh", "-c", "echo hello from $(hostname); exit 3"]);
        Assert.Equal(3, hello.ExitCode);
        Assert.Equal("hello from gv\n", hello.Stdout);
        await WaitUntilAsync(() => h.Client.LogsAsync("gv").Result.Contains("err\n", StringComparison.Ordinal));
        Assert.Contains("out\n", await h.Client.LogsAsync("gv"), StringComparison.Ordinal);

        Assert.Equal(0, (await h.Client.ExecAsync("gv", ["sh", "-c", "echo kept > /etc/marker && echo vol > /data/v"])).ExitCode);
        // The write went through gVisor's gofer into the host-side overlay's upper layer, not into gVisor's memory.
        Assert.Equal("kept\n", await File.ReadAllTextAsync(Path.Combine(h.Options.StateDir, "sandboxes", s.Id, "upper", "etc", "marker")));

        Assert.Equal(SandboxState.Paused, (await h.Client.PauseAsync("gv")).State);
        var paused = await h.Client.InspectAsync("gv");
        Assert.Equal("paused", paused.RuntimeStatus);
        Assert.Equal("runsc", paused.Runtime);
        Assert.Equal(SandboxState.Running, (await h.Client.ResumeAsync("gv")).State);
        Assert.Equal("running", (await h.Client.InspectAsync("gv")).RuntimeStatus);
        Assert.Equal("x\n", (await h.Client.ExecAsync("gv", ["echo", "x"])).Stdout);

        Assert.Equal(SandboxState.Stopped, (await h.Client.StopAsync("gv", graceSeconds: 5)).State);
        var execStopped = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ExecAsync("gv", ["true"]));
        Assert.Contains("stopped", execStopped.Message, StringComparison.Ordinal);

        await h.Client.StartAsync("gv");
        Assert.Equal("kept\nvol\n", (await h.Client.ExecAsync("gv", ["cat", "/etc/marker", "/data/v"])).Stdout);
        var inspectAfter = await h.Client.InspectAsync("gv");
        Assert.Equal(RuntimeTier.Gvisor, inspectAfter.Tier);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", s.Address!)).Code);

        await h.Client.DestroyAsync("gv");
        Assert.Empty(await h.Client.ListAsync());
        Assert.False(File.Exists(Path.Combine("/run/netns", inspectAfter.Netns)), "netns left");
        Assert.NotEqual(0, (await h.InHostNs("ip", "link", "show", inspectAfter.HostInterface)).Code);
        Assert.False(Directory.Exists(Path.Combine(h.Options.StateDir, "sandboxes", s.Id)), "sandbox folder left");
        Assert.DoesNotContain(Directory.EnumerateDirectories("/sys/fs/cgroup").Select(c => Path.Combine(c, "moat", s.Id)), Directory.Exists);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(h.Options.StateDir, "runtime-gvisor"), s.Id + "_*"));
        Assert.DoesNotContain(ProcessesNamed("runsc-sandbox"), cmd => cmd.Contains(s.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Inside_gvisor_the_host_kernel_is_not_what_answers_while_in_the_container_tier_it_is()
    {
        await using var h = await AgentHarness.StartAsync();
        var gv = await h.Client.CreateAsync(Gvisor with { Name = "gv" });
        var ct = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "ct" });
        var hostRelease = (await File.ReadAllTextAsync("/proc/sys/kernel/osrelease")).Trim();

        // uname: the container tier reports the host kernel's release, gVisor its own.
        Assert.Equal(hostRelease, (await h.Client.ExecAsync("ct", ["uname", "-r"])).Stdout.Trim());
        var gvRelease = (await h.Client.ExecAsync("gv", ["uname", "-r"])).Stdout.Trim();
        Assert.NotEmpty(gvRelease);
        Assert.NotEqual(hostRelease, gvRelease);
        Assert.DoesNotContain(hostRelease, (await h.Client.ExecAsync("gv", ["cat", "/proc/version"])).Stdout, StringComparison.Ordinal);

        // NETLINK_ROUTE: in the container tier the host kernel answers and knows the veth's peer in the host
        // namespace (eth0@ifN, N the host end's index there); gVisor's netstack answers with no such knowledge.
        var hostIndex = LinkIndex().Match((await h.InHostNs("ip", "-o", "link", "show", "mh" + ct.Id)).Out);
        Assert.True(hostIndex.Success, "host end's index not found");
        var ctLinks = await h.Client.ExecAsync("ct", ["ip", "-o", "link", "show", "eth0"]);
        Assert.Equal(0, ctLinks.ExitCode);
        Assert.Contains($"eth0@if{hostIndex.Groups[1].Value}:", ctLinks.Stdout, StringComparison.Ordinal);
        var gvLinks = await h.Client.ExecAsync("gv", ["ip", "-o", "link", "show", "eth0"]);
        Assert.Equal(0, gvLinks.ExitCode);
        Assert.Contains("eth0", gvLinks.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("@if", gvLinks.Stdout, StringComparison.Ordinal);

        // /proc/kallsyms: the host has kernel symbols; neither tier shows them (the container tier masks the file,
        // gVisor's /proc has no host symbols to show).
        Assert.Contains(" T ", await File.ReadAllTextAsync("/proc/kallsyms"), StringComparison.Ordinal);
        Assert.DoesNotContain(" T ", (await h.Client.ExecAsync("ct", ["cat", "/proc/kallsyms"])).Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(" T ", (await h.Client.ExecAsync("gv", ["cat", "/proc/kallsyms"])).Stdout, StringComparison.Ordinal);

        // The monitor says what it cannot see instead of staying silent.
        var gvDetails = await h.Client.InspectAsync("gv");
        Assert.StartsWith("reported by gVisor", gvDetails.ExecMonitoring, StringComparison.Ordinal);
        Assert.StartsWith("observed", (await h.Client.InspectAsync("ct")).ExecMonitoring, StringComparison.Ordinal);
        Assert.Equal(RuntimeTier.Container, (await h.Client.InspectAsync("ct")).Tier);
    }

    [Fact]
    public async Task Gvisor_sandbox_reaches_its_gateway_through_the_veth_and_the_host_reaches_it()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(Gvisor with { Name = "gvnet" });
        var port = Random.Shared.Next(20_000, 30_000).ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Host side: a one-connection TCP server in the host namespace (where 169.254.1.1 lives on the veth's host end),
        // listening before the sandbox connects; its stdin stays open (an `echo | nc -l` could end the connection
        // before the sandbox's line arrived).
        using (var server = await AgentHarness.ListenAsync(h.HostNs, int.Parse(port, System.Globalization.CultureInfo.InvariantCulture)))
        {
            try
            {
                await server.StandardInput.WriteLineAsync("from-host");
                await server.StandardInput.FlushAsync();
                var heard = server.StandardOutput.ReadLineAsync();
                var reply = await h.Client.ExecAsync("gvnet", ["sh", "-c", $"echo from-sandbox | nc -w 2 169.254.1.1 {port}"]);
                Assert.Contains("from-host", reply.Stdout, StringComparison.Ordinal);
                Assert.Equal("from-sandbox", await heard.WaitAsync(TimeSpan.FromSeconds(30)));
            }
            finally
            {
                server.Kill(entireProcessTree: true);
            }
        }

        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", s.Address!)).Code);
    }

    [Fact]
    public async Task Warm_pool_is_per_image_and_tier_and_a_gvisor_claim_is_warm_and_addressed()
    {
        await using var h = await AgentHarness.StartAsync(warm: new Dictionary<string, int> { ["busybox@gvisor"] = 1, ["busybox"] = 1 });
        await h.Client.FillPoolAsync();
        var pools = await h.Client.PoolAsync();
        Assert.Contains(pools, p => p is { Image: "busybox", Tier: RuntimeTier.Gvisor, Ready: 1 });
        Assert.Contains(pools, p => p is { Image: "busybox", Tier: RuntimeTier.Container, Ready: 1 });
        var gvPooled = (await h.Client.ListAsync()).Single(x => x.PoolImage is not null && x.Tier == RuntimeTier.Gvisor);

        var claim = await h.Client.ClaimAsync(Gvisor with { Name = "warmgv", Client = "carol", MemoryBytes = 128 * SandboxSpec.MiB });
        Assert.True(claim.FromPool);
        Assert.Equal(gvPooled.Id, claim.Sandbox.Id);
        Assert.Equal(RuntimeTier.Gvisor, claim.Sandbox.Tier);
        Assert.Equal(gvPooled.Address, claim.Sandbox.Address);
        Assert.Equal("carol", claim.Sandbox.Spec.Client);
        Assert.Equal((128 * SandboxSpec.MiB).ToString(System.Globalization.CultureInfo.InvariantCulture),
            File.ReadAllText($"/sys/fs/cgroup/memory/moat/{claim.Sandbox.Id}/memory.limit_in_bytes").Trim());
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", claim.Sandbox.Address!)).Code);
        Assert.StartsWith("Linux", (await h.Client.ExecAsync("warmgv", ["uname", "-s"])).Stdout, StringComparison.Ordinal);

        // The container pool was not touched by a gvisor claim.
        Assert.Contains(await h.Client.PoolAsync(), p => p is { Tier: RuntimeTier.Container, Ready: 1 });
    }

    [Fact]
    public async Task Untrusted_client_gets_gvisor_by_default_cannot_ask_for_less_and_the_administrator_decides_per_client()
    {
        var tiers = new TierOptions
        {
            ClientTrust = new Dictionary<string, string> { ["eve"] = TierOptions.Untrusted },
            ClientTier = new Dictionary<string, RuntimeTier> { ["bob"] = RuntimeTier.Gvisor },
        };
        await using var h = await AgentHarness.StartAsync(tiers: tiers);

        Assert.Equal(RuntimeTier.Gvisor, (await h.Client.CreateAsync(SandboxSpec.Default with { Client = "eve" })).Tier);
        Assert.Equal(RuntimeTier.Gvisor, (await h.Client.CreateAsync(SandboxSpec.Default with { Client = "bob" })).Tier);
        Assert.Equal(RuntimeTier.Container, (await h.Client.CreateAsync(SandboxSpec.Default with { Client = "alice" })).Tier);

        var weaker = await Assert.ThrowsAsync<HostApiException>(() =>
            h.Client.CreateAsync(SandboxSpec.Default with { Client = "eve", Tier = RuntimeTier.Container, Name = "nope" }));
        Assert.Equal(400, weaker.Status);
        Assert.Contains("weaker", weaker.Message, StringComparison.Ordinal);
        var weakerClaim = await Assert.ThrowsAsync<HostApiException>(() =>
            h.Client.ClaimAsync(SandboxSpec.Default with { Client = "eve", Tier = RuntimeTier.Container, Name = "nope" }));
        Assert.Equal(400, weakerClaim.Status);

        var vm = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Tier = RuntimeTier.Vm, Name = "nope" }));
        Assert.Contains("unavailable on this machine", vm.Message, StringComparison.Ordinal);

        Assert.Equal(3, (await h.Client.ListAsync()).Count);
        Assert.DoesNotContain(await h.Client.ListAsync(), x => x.Name == "nope");
        var status = await h.Client.StatusAsync();
        Assert.Contains(status.Tiers, t => t is { Tier: RuntimeTier.Gvisor, Available: true });
        Assert.Contains(status.Tiers, t => t is { Tier: RuntimeTier.Vm, Available: false });
    }

    [Fact]
    public async Task Agent_restart_adopts_a_running_gvisor_sandbox_and_removes_an_unrecorded_one()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(Gvisor with { Name = "keep" });
        var orphan = await h.Client.CreateAsync(Gvisor with { Name = "lost" });
        await h.StopAgentAsync();
        var store = new Moat.Host.Store.HostStore(Path.Combine(h.Options.StateDir, "store.db"));
        store.Delete(orphan.Id);

        await h.StartAgentAsync();
        var report = (await h.Client.StatusAsync()).LastReconcile;
        Assert.Equal(1, report.Adopted);
        Assert.True(report.OrphansRemoved >= 1);
        Assert.Equal("running", (await h.Client.InspectAsync("keep")).RuntimeStatus);
        Assert.Equal("still\n", (await h.Client.ExecAsync("keep", ["echo", "still"])).Stdout);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", s.Address!)).Code);
        Assert.DoesNotContain(ProcessesNamed("runsc-sandbox"), cmd => cmd.Contains(orphan.Id, StringComparison.Ordinal));
    }

    private static IEnumerable<string> ProcessesNamed(string name) =>
        Directory.EnumerateDirectories("/proc")
            .Where(d => int.TryParse(Path.GetFileName(d), out _))
            .Select(d =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(d, "cmdline")).Replace('\0', ' ');
                }
                catch (IOException)
                {
                    return "";
                }
            })
            .Where(c => c.StartsWith(name, StringComparison.Ordinal))
            .ToList();

    private static async Task WaitUntilAsync(Func<bool> condition, int seconds = 30)
#pragma warning disable xUnit1031 // the condition is a plain predicate polled off the test's own thread
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(50);
        }
    }
#pragma warning restore xUnit1031

    [GeneratedRegex(@"^(\d+): ")]
    private static partial Regex LinkIndex();
}
