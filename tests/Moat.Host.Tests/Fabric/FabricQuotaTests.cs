using System.Runtime.Versioning;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Fabric;

/// <summary>Issue 14 item 8 over the fabric: an allowed JID's claims beyond its quota are refused with one sentence.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class FabricQuotaTests
{
    [Fact]
    public async Task Claims_beyond_an_allowed_jids_sandbox_quota_are_refused_and_its_sandbox_stays()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.44.0/24",
            policy: domain => $"default-trust: untrusted\nclients:\n  jobs@{domain}: semi-trusted\nquotas:\n  semi-trusted: {{ sandboxes: 1 }}\n");
        await using var jobs = await f.ControlAsync(f.JobsJid);
        var first = (await jobs.ClaimAsync(f.HostJid, new SandboxSpec { Name = "j1", MemoryBytes = 64 * SandboxSpec.MiB })).Sandbox;

        var e = await Assert.ThrowsAsync<FabricCallException>(() => jobs.ClaimAsync(f.HostJid, new SandboxSpec { Name = "j2", MemoryBytes = 64 * SandboxSpec.MiB }));
        Assert.Equal("resource-constraint", e.Condition);
        Assert.Contains($"client '{f.JobsJid}' holds 1 sandboxes and its quota (semi-trusted) is 1", e.Message, StringComparison.Ordinal);
        Assert.Equal([first.Id], (await f.Host.Client.ListAsync()).Select(s => s.Id));
        Assert.Equal(0, (await jobs.ExecAsync(f.HostJid, "j1", ["true"])).ExitCode);
    }
}
