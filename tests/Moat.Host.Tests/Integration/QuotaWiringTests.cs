using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Issue 14 item 8 on the local API: a client's quota (sandboxes, memory, concurrent execs) from the policy is
/// enforced; over it is refused with one sentence naming the quota and the current use, and nothing held is lost.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class QuotaWiringTests
{
    private const string Policy = """
        default-trust: untrusted
        clients: { q: trusted, r: trusted }
        quotas:
          clients:
            q: { sandboxes: 2, memory: 128MiB, execs: 1 }
        """;

    [Fact]
    public async Task Sandboxes_memory_and_concurrent_execs_over_a_clients_quota_are_refused_and_nothing_held_is_lost()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.43.0/24", policy: Policy);
        var a = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "qa", Client = "q", MemoryBytes = 64 * SandboxSpec.MiB });
        var b = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "qb", Client = "q", MemoryBytes = 32 * SandboxSpec.MiB });

        var third = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Name = "qc", Client = "q", MemoryBytes = 8 * SandboxSpec.MiB }));
        Assert.Equal(409, third.Status);
        Assert.Contains("client 'q' holds 2 sandboxes and its quota (trusted) is 2", third.Message, StringComparison.Ordinal);

        await h.Client.DestroyAsync(b.Id);
        var memory = await Assert.ThrowsAsync<HostApiException>(() => h.Client.CreateAsync(SandboxSpec.Default with { Name = "qc", Client = "q", MemoryBytes = 128 * SandboxSpec.MiB }));
        Assert.Equal(409, memory.Status);
        Assert.Contains("64 MiB", memory.Message, StringComparison.Ordinal);
        Assert.Contains("quota (trusted) of 128 MiB", memory.Message, StringComparison.Ordinal);

        // Another client is not held to q's quota.
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "ra", Client = "r", MemoryBytes = 256 * SandboxSpec.MiB });

        // One exec at a time: the first waits for a file the test writes into the sandbox's volume.
        var volume = Path.Combine(h.Options.StateDir, "sandboxes", a.Id, "data");
        var first = h.Client.ExecAsync("qa", ["sh", "-c", "touch /data/started; until [ -e /data/go ]; do sleep 0.1; done; echo released"], timeoutSeconds: 120);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(Path.Combine(volume, "started")))
        {
            Assert.True(DateTime.UtcNow < deadline && !first.IsCompleted, "the first exec did not start");
            await Task.Delay(20);
        }

        var second = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ExecAsync("qa", ["true"], timeoutSeconds: 30));
        Assert.Equal(409, second.Status);
        Assert.Contains("client 'q' has 1 exec running and its quota (trusted) is 1", second.Message, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(volume, "go"), "");
        Assert.Contains("released", (await first).Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await h.Client.ExecAsync("qa", ["true"], timeoutSeconds: 30)).ExitCode);
        Assert.Equal(new[] { "qa", "ra" }, (await h.Client.ListAsync()).Select(s => s.Name).Order());
    }
}
