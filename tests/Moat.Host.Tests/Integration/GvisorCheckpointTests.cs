using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Live checkpoints of gvisor-tier sandboxes with the real runsc: a sandbox's processes (their memory: a token only they
/// hold, a counter) survive a checkpoint and a restore, in place or into another sandbox with another address, which
/// is what a live relocation does between hosts.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GvisorCheckpointTests
{
    // The token and the counter live only in the shell's memory and in /tmp, which is a tmpfs inside gVisor's kernel:
    // a sandbox booted afresh would draw another token and count from 1.
    internal static readonly SandboxSpec Counter = SandboxSpec.Default with
    {
        Tier = RuntimeTier.Gvisor,
        Command = ["sh", "-c", "t=$(head -c 8 /dev/urandom | md5sum | cut -c1-12); i=0; while true; do i=$((i+1)); echo \"$t $i\" > /tmp/state; sleep 0.05; done"],
    };

    [Fact]
    public async Task A_checkpointed_sandbox_restored_into_another_keeps_its_processes_and_files_and_takes_the_new_address()
    {
        await using var h = await AgentHarness.StartAsync();
        var src = await h.Client.CreateAsync(Counter with { Name = "src" });
        Assert.Equal(0, (await h.Client.ExecAsync("src", ["sh", "-c", "echo kept > /etc/marker && echo vol > /data/v"])).ExitCode);
        var (token, before) = await ReadStateAsync(h.Client, "src");

        var support = await h.Client.CheckpointSupportAsync();
        Assert.True(support.GvisorAvailable, support.GvisorReason);
        var stopped = await h.Client.CheckpointAsync("src");
        Assert.Equal(SandboxState.Stopped, stopped.State);
        Assert.True(File.Exists(Path.Combine(h.Options.StateDir, "sandboxes", src.Id, "checkpoint", "checkpoint.img")));

        // As a live relocation does it: a reserved copy (its own namespace and address), the state streamed into it.
        var copy = await h.Client.ReserveAsync(new SandboxManifest(src.Spec with { Name = "dst" }, src.ImageDigest, src.Tier, src.Id));
        Assert.NotEqual(src.Address, copy.Address);
        ImportResult imported;
        await using (var state = await h.Client.ExportStateAsync("src"))
        {
            imported = await h.Client.ImportStateAsync(copy.Id, state, start: true);
        }

        Assert.True(imported.Restored);
        Assert.Equal(SandboxState.Running, imported.Sandbox.State);
        var (tokenAfter, after) = await ReadStateAsync(h.Client, copy.Id);
        Assert.Equal(token, tokenAfter);
        Assert.True(after >= before, $"counter {after} after the restore, {before} before the checkpoint");
        Assert.Equal("kept\nvol\n", (await h.Client.ExecAsync(copy.Id, ["cat", "/etc/marker", "/data/v"])).Stdout);

        // The restored kernel took the copy's address from its namespace, and the host reaches it there.
        var addresses = (await h.Client.ExecAsync(copy.Id, ["ip", "-4", "addr", "show", "eth0"])).Stdout;
        Assert.Contains(copy.Address + "/32", addresses, StringComparison.Ordinal);
        Assert.DoesNotContain(src.Address + "/", addresses, StringComparison.Ordinal);
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", copy.Address!)).Code);

        // The checkpoint is consumed: a later restart boots afresh.
        Assert.False(Directory.Exists(Path.Combine(h.Options.StateDir, "sandboxes", copy.Id, "checkpoint")));
    }

    [Fact]
    public async Task A_checkpointed_sandbox_started_again_in_place_goes_on_where_it_stopped()
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(Counter with { Name = "gv" });
        var (token, before) = await ReadStateAsync(h.Client, "gv");

        await h.Client.CheckpointAsync("gv");
        Assert.Equal(SandboxState.Running, (await h.Client.StartAsync("gv")).State);

        var (tokenAfter, after) = await ReadStateAsync(h.Client, "gv");
        Assert.Equal(token, tokenAfter);
        Assert.True(after >= before);
    }

    [Fact]
    public async Task Checkpoints_are_refused_for_the_container_tier_and_for_a_stopped_sandbox_and_nothing_changes()
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "ct" });
        await h.Client.CreateAsync(Counter with { Name = "gv" });
        await h.Client.StopAsync("gv", graceSeconds: 1);

        var container = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CheckpointAsync("ct"));
        Assert.Equal(400, container.Status);
        Assert.Contains("container tier", container.Message, StringComparison.Ordinal);
        var stoppedOne = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CheckpointAsync("gv"));
        Assert.Equal(400, stoppedOne.Status);

        Assert.Equal(SandboxState.Running, (await h.Client.InspectAsync("ct")).Sandbox.State);
        Assert.Equal("running", (await h.Client.InspectAsync("ct")).RuntimeStatus);
        Assert.Equal(SandboxState.Stopped, (await h.Client.InspectAsync("gv")).Sandbox.State);
    }

    /// <summary>The sandbox's token and counter, once it has counted (its loop writes them every 50 ms).</summary>
    internal static async Task<(string Token, int Count)> ReadStateAsync(HostClient client, string sandbox)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var r = await client.ExecAsync(sandbox, ["cat", "/tmp/state"], ct: deadline.Token);
            var parts = r.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (r.ExitCode == 0 && parts.Length == 2 && int.TryParse(parts[1], out var n))
            {
                return (parts[0], n);
            }

            await Task.Delay(50, deadline.Token);
        }
    }
}
