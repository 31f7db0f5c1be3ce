using Moat.Host.Agent;
using Moat.Host.Client;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Tests.Integration;

[Trait("Category", "Integration")]
public sealed class ReconcileTests
{
    [Fact]
    public async Task Restart_adopts_running_sandboxes_without_touching_them()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "keep" });
        await h.Client.ExecAsync("keep", ["sh", "-c", "echo before > /tmp/state"]);
        var pid = (await h.Client.InspectAsync("keep")).Pid;

        await h.StopAgentAsync();
        await h.StartAgentAsync();

        var status = await h.Client.StatusAsync();
        Assert.Equal(new ReconcileReport(Adopted: 1, Restarted: 0, Repaired: 0, RolledBack: 0, OrphansRemoved: 0), status.LastReconcile);
        Assert.Equal(pid, (await h.Client.InspectAsync("keep")).Pid);
        Assert.Equal("before\n", (await h.Client.ExecAsync("keep", ["cat", "/tmp/state"])).Stdout);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", s.Address!)).Code);
    }

    [Fact]
    public async Task Restart_rebuilds_network_plumbing_removed_behind_its_back_and_keeps_the_processes()
    {
        await using var h = await AgentHarness.StartAsync();
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "cut" });
        var pid = (await h.Client.InspectAsync("cut")).Pid;
        await h.StopAgentAsync();

        Assert.Equal(0, (await AgentHarness.Sh("ip", "-n", h.HostNs, "link", "del", s.HostInterface)).Code);
        Assert.Equal(0, (await AgentHarness.Sh("ip", "netns", "del", s.Netns)).Code);
        Assert.NotEqual(0, (await h.InHostNs("ping", "-c", "1", "-W", "1", s.Address!)).Code);

        await h.StartAgentAsync();
        Assert.Equal(1, (await h.Client.StatusAsync()).LastReconcile.Repaired);
        Assert.Equal(pid, (await h.Client.InspectAsync("cut")).Pid);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", s.Address!)).Code);
        var addr = await h.Client.ExecAsync("cut", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        Assert.Contains($"inet {s.Address}/32", addr.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_runs_again_a_sandbox_whose_container_died_keeping_its_files_and_volume()
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "phoenix" });
        await h.Client.ExecAsync("phoenix", ["sh", "-c", "echo root > /root/f; echo vol > /data/f"]);
        var s = h.Service<SandboxService>().Get("phoenix");
        await h.StopAgentAsync();

        var runtime = Path.Combine(h.Options.StateDir, "runtime");
        Assert.Equal(0, (await AgentHarness.Sh("runc", "--root", runtime, "delete", "--force", s.Id)).Code);

        await h.StartAgentAsync();
        Assert.Equal(1, (await h.Client.StatusAsync()).LastReconcile.Restarted);
        Assert.Equal("running", (await h.Client.InspectAsync("phoenix")).RuntimeStatus);
        Assert.Equal("root\nvol\n", (await h.Client.ExecAsync("phoenix", ["cat", "/root/f", "/data/f"])).Stdout);
    }

    [Theory]
    [InlineData("create:journaled")]
    [InlineData("create:plumbed")]
    [InlineData("create:started")]
    public async Task Kill_9_in_the_middle_of_a_create_then_restart_leaves_nothing_behind(string crashPoint)
    {
        await using var h = await AgentHarness.StartAsync();
        var before = (await h.Client.CreateAsync(SandboxSpec.Default with { Name = "bystander" })).Id;
        await h.StopAgentAsync();

        using (var agent = h.SpawnAgent(new Dictionary<string, string> { ["MOAT_CRASH_AT"] = crashPoint }))
        {
            Assert.Contains("ready", await agent.StandardOutput.ReadLineAsync(), StringComparison.Ordinal);
            using var client = new HostClient(h.Options.SocketPath);
            await Assert.ThrowsAsync<HttpRequestException>(() => client.CreateAsync(SandboxSpec.Default with { Name = "doomed" }));
            await agent.WaitForExitAsync();
            Assert.Equal(137, agent.ExitCode);
        }

        // The crash left a half-made sandbox: its journal entry and (past the first point) kernel objects.
        var store = new HostStore(Path.Combine(h.Options.StateDir, "store.db"));
        var doomed = Assert.Single(store.List(), x => x.Name == "doomed");
        Assert.Equal(SandboxState.Creating, doomed.State);
        Assert.Equal(crashPoint != "create:journaled", File.Exists(Path.Combine("/run/netns", doomed.Netns)));

        await h.StartAgentAsync();
        Assert.Equal(1, (await h.Client.StatusAsync()).LastReconcile.RolledBack);
        Assert.Equal([before], (await h.Client.ListAsync()).Select(x => x.Id));
        await SandboxLifecycleTests.AssertGoneAsync(h, new SandboxDetails(doomed, "absent", 0, "runc",
            Path.Combine(h.Options.StateDir, "sandboxes", doomed.Id),
            Path.Combine(h.Options.StateDir, "sandboxes", doomed.Id, "rootfs"),
            Path.Combine(h.Options.StateDir, "sandboxes", doomed.Id, "data"), doomed.Netns, doomed.HostInterface, doomed.CgroupPath));
        Assert.Equal(0, (await h.Client.ExecAsync("bystander", ["true"])).ExitCode);
    }

    [Fact]
    public async Task A_second_agent_on_the_same_state_folder_refuses_to_start()
    {
        await using var h = await AgentHarness.StartAsync();
        using var second = h.SpawnAgent();
        var err = await second.StandardError.ReadToEndAsync();
        await second.WaitForExitAsync();
        Assert.Equal(3, second.ExitCode); // refused by the present state (README's exit-code table)
        Assert.Contains("another host agent", err, StringComparison.Ordinal);
        Assert.NotNull(await h.Client.StatusAsync());
    }
}
