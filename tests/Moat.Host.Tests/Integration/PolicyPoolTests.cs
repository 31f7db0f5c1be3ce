using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Pools follow what the policy hands out (issue 19): with the policy `scripts/up` writes, a client it does not name
/// is untrusted and gets gVisor, so `--pool busybox=N` keeps gVisor sandboxes ready too and a stranger's claim is warm.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PolicyPoolTests
{
    [Fact]
    public async Task With_the_scripts_up_policy_an_unnamed_clients_claim_is_served_from_the_gvisor_pool()
    {
        await using var h = await AgentHarness.StartAsync(warm: new Dictionary<string, int> { ["busybox"] = 1 }, policy: ScriptsUpPolicy());
        var pools = await h.Client.FillPoolAsync();
        Assert.Equal([RuntimeTier.Container, RuntimeTier.Gvisor], pools.Select(p => p.Tier).Order());
        Assert.All(pools, p => Assert.Equal(1, p.Ready));
        var ready = (await h.Client.ListAsync()).Where(s => s.PoolImage is not null).ToDictionary(s => s.Id, s => s.Tier);

        var stranger = await h.Client.ClaimAsync(SandboxSpec.Default with { Client = "stranger" });
        Assert.True(stranger.FromPool);
        Assert.Equal(RuntimeTier.Gvisor, stranger.Sandbox.Tier);
        Assert.Equal(RuntimeTier.Gvisor, ready[stranger.Sandbox.Id]);
        Assert.Equal("stranger", stranger.Sandbox.Spec.Client);
        Assert.Null(stranger.Sandbox.PoolImage);
        Assert.NotNull(stranger.Sandbox.Address);
        Assert.Equal("hi\n", (await h.Client.ExecAsync(stranger.Sandbox.Id, ["echo", "hi"])).Stdout);

        // The owner's own CLI (client "local", trusted in that policy) is served by the container pool.
        var local = await h.Client.ClaimAsync(SandboxSpec.Default);
        Assert.True(local.FromPool);
        Assert.Equal(RuntimeTier.Container, local.Sandbox.Tier);
        Assert.Equal(RuntimeTier.Container, ready[local.Sandbox.Id]);
    }

    [Fact]
    public async Task A_pool_that_names_its_tier_keeps_that_tier_alone()
    {
        await using var h = await AgentHarness.StartAsync(warm: new Dictionary<string, int> { ["busybox@container"] = 1 }, policy: ScriptsUpPolicy());
        var pools = await h.Client.FillPoolAsync();
        Assert.Equal(RuntimeTier.Container, Assert.Single(pools).Tier);
        var stranger = await h.Client.ClaimAsync(SandboxSpec.Default with { Client = "stranger" });
        Assert.False(stranger.FromPool);
        Assert.Equal(RuntimeTier.Gvisor, stranger.Sandbox.Tier);
    }

    /// <summary>The policy `scripts/up` writes for a new host, read from the script itself so the test follows it.</summary>
    private static string ScriptsUpPolicy()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "scripts", "up")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        var lines = File.ReadAllLines(Path.Combine(dir.FullName, "scripts", "up"));
        var start = Array.FindIndex(lines, l => l.Contains("policy.yaml\" <<'POLICY'", StringComparison.Ordinal));
        var end = Array.FindIndex(lines, start + 1, l => l.Trim() == "POLICY");
        Assert.True(start >= 0 && end > start, "scripts/up no longer writes a policy between <<'POLICY' and POLICY");
        return string.Join('\n', lines[(start + 1)..end]) + "\n";
    }
}
