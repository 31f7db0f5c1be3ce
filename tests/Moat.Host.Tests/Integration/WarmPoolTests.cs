using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

[Trait("Category", "Integration")]
public sealed class WarmPoolTests
{
    [Fact]
    public async Task Claim_takes_a_ready_sandbox_gives_it_address_and_limits_and_the_pool_refills()
    {
        await using var h = await AgentHarness.StartAsync(warm: new Dictionary<string, int> { ["busybox"] = 2 });
        await h.Client.FillPoolAsync();
        var ready = (await h.Client.ListAsync()).Where(s => s.PoolImage is not null).Select(s => s.Id).ToHashSet();
        Assert.Equal(2, ready.Count);

        var claim = await h.Client.ClaimAsync(SandboxSpec.Default with { Name = "warm", MemoryBytes = 64 * SandboxSpec.MiB, Client = "alice" });
        Assert.True(claim.FromPool);
        Assert.Contains(claim.Sandbox.Id, ready);
        Assert.Equal("warm", claim.Sandbox.Name);
        Assert.Null(claim.Sandbox.PoolImage);
        Assert.Equal("alice", claim.Sandbox.Spec.Client);
        Assert.Equal((64 * SandboxSpec.MiB).ToString(System.Globalization.CultureInfo.InvariantCulture),
            File.ReadAllText($"/sys/fs/cgroup/memory/moat/{claim.Sandbox.Id}/memory.limit_in_bytes").Trim());
        Assert.Equal(0, (await h.InHostNs("ping", "-c", "1", "-W", "2", claim.Sandbox.Address!)).Code);
        Assert.Equal("hi\n", (await h.Client.ExecAsync("warm", ["echo", "hi"])).Stdout);

        await SandboxLifecycleTests.WaitUntilAsync(() => h.Client.PoolAsync().Result.Single().Ready == 2, seconds: 60);
        Assert.Single(await h.Client.ListAsync(), s => s.PoolImage is null);
    }

    [Fact]
    public async Task Claim_with_an_empty_pool_falls_back_to_a_cold_create()
    {
        await using var h = await AgentHarness.StartAsync();
        var claim = await h.Client.ClaimAsync(SandboxSpec.Default);
        Assert.False(claim.FromPool);
        Assert.Equal(SandboxState.Running, claim.Sandbox.State);
    }
}
