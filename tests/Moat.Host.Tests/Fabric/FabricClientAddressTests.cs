using System.Runtime.Versioning;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Fabric;

/// <summary>
/// Issue 14 item 2 over the fabric: an allow-listed (not administrator) JID's claim whose JSON names another owner's
/// sandbox, the host or the metadata address as clientAddress is refused and makes nothing; only an address the
/// policy binds to that JID may be named.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class FabricClientAddressTests
{
    private const string Bound = "198.18.231.10";

    [Fact]
    public async Task An_allowed_jid_may_name_only_a_client_address_the_policy_binds_to_it()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.42.0/24",
            policy: domain => $"default-trust: untrusted\nclients:\n  jobs@{domain}: semi-trusted\n  admin@{domain}: semi-trusted\nclient-addresses:\n  jobs@{domain}: [{Bound}]\n");
        await using var jobs = await f.ControlAsync(f.JobsJid);
        await using var admin = await f.ControlAsync(f.AdminJid);
        var owners = (await admin.ClaimAsync(f.HostJid, new SandboxSpec { Name = "owners", MemoryBytes = 64 * SandboxSpec.MiB })).Sandbox;

        foreach (var claimed in new[] { owners.Address!, "169.254.169.254", "198.18.231.7" })
        {
            var e = await Assert.ThrowsAsync<FabricCallException>(() =>
                jobs.ClaimAsync(f.HostJid, new SandboxSpec { Name = "nosy", MemoryBytes = 64 * SandboxSpec.MiB, ClientAddress = claimed }));
            Assert.Equal("forbidden", e.Condition);
            Assert.Contains($"clientAddress '{claimed}' is not bound to {f.JobsJid}", e.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(await f.Host.Client.ListAsync(), s => s.Name == "nosy");

        // The address the policy binds to the JID is taken; an administrator may still not name a neighbour.
        var mine = (await jobs.ClaimAsync(f.HostJid, new SandboxSpec { Name = "mine", MemoryBytes = 64 * SandboxSpec.MiB, ClientAddress = Bound })).Sandbox;
        Assert.Equal(Bound, mine.Spec.ClientAddress);
        var adminTry = await Assert.ThrowsAsync<FabricCallException>(() =>
            admin.ClaimAsync(f.HostJid, new SandboxSpec { Name = "nosy", MemoryBytes = 64 * SandboxSpec.MiB, ClientAddress = owners.Address }));
        Assert.Equal("bad-request", adminTry.Condition);
        Assert.Contains("sandbox pool", adminTry.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "mine", "owners" }, (await f.Host.Client.ListAsync()).Select(s => s.Name).Order());
    }
}
