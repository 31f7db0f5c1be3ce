using Moat.Containment.Hosting;
using Moat.Containment.Tests.Rules;
using Moat.Containment.Trust;

namespace Moat.Containment.Tests.Hosting;

/// <summary>The agent-facing facade: admit on identity, forget on destroy, reconcile at restart, policy from its file.</summary>
[Trait("Category", "Integration")]
[Collection("containment-world")]
public sealed class SandboxContainmentTests
{
    [Fact]
    public async Task AdmitForgetAndReconcile_FollowTheSandboxesLifecycle()
    {
        using var world = new ContainmentWorld();
        var a = world.AddSandbox("sam");
        var b = world.AddSandbox("mallory");
        var policyFile = Path.Combine(Path.GetTempPath(), $"moat-policy-{world.Tag}.yaml");
        await File.WriteAllTextAsync(policyFile, ContainmentWorld.Policy);
        try
        {
            static SandboxIdentity Identity(Moat.Containment.Rules.SandboxNetwork s) => new(s.Id, s.HostInterface, s.Address, s.Client, s.ClientAddress);
            using (var containment = SandboxContainment.Open(world.Options, policyFile, world.Host))
            {
                containment.Reconcile([]);
                Assert.Equal(TrustLevel.SemiTrusted, containment.Admit(Identity(a.Sandbox)));
                Assert.Equal(TrustLevel.Untrusted, containment.Admit(Identity(b.Sandbox)));
                Assert.True(await Probe.TcpAsync(a.Namespace, ContainmentWorld.Internet, 80));
                Assert.False(await Probe.TcpAsync(b.Namespace, ContainmentWorld.Internet, 80));
                Assert.Throws<ContainmentInputException>(() => containment.TrustFor("mallory", TrustLevel.Trusted));
                containment.Forget(b.Sandbox.Id);
            }

            // Agent restart: only "a" is live in the store.
            using var restarted = SandboxContainment.Open(world.Options, policyFile, world.Host);
            restarted.Reconcile([Identity(a.Sandbox)]);
            Assert.True(await Probe.TcpAsync(a.Namespace, ContainmentWorld.Internet, 80));
            Assert.False(await Probe.TcpAsync(a.Namespace, ContainmentWorld.Victim, 80));
            await restarted.QuarantineAsync(a.Sandbox.Id, freeze: false);
            Assert.False(await Probe.TcpAsync(a.Namespace, ContainmentWorld.Client, 80));
            await restarted.ReleaseAsync(a.Sandbox.Id);
            Assert.True(await Probe.TcpAsync(a.Namespace, ContainmentWorld.Client, 80));
            await Assert.ThrowsAsync<ContainmentInputException>(() => restarted.AllowAsync(a.Sandbox.Id, "-----BEGIN CERTIFICATE-----", proof: null));
        }
        finally
        {
            File.Delete(policyFile);
        }
    }
}
