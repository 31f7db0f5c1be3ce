using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

/// <summary>
/// Issue 14 item 8: with no policy file a local client's default stays --default-trust (trusted), but a remote client
/// (named by a JID, as every fabric requester is) is untrusted unless the administrator names it.
/// </summary>
public sealed class RemoteTrustDefaultTests
{
    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("jobs@moat.test")]
    [InlineData("Mallory@Example.ORG")]
    public void A_jid_not_named_by_the_administrator_is_untrusted_and_gets_gvisor_even_when_the_default_is_trusted(string jid)
    {
        var tiers = new TierPolicy(new TierOptions { DefaultTrust = TierOptions.Trusted });

        Assert.Equal(TierOptions.Untrusted, tiers.TrustOf(SandboxSpec.Default with { Client = jid }));
        Assert.Equal(RuntimeTier.Gvisor, tiers.Select(SandboxSpec.Default with { Client = jid }));
    }

    [Fact]
    public void A_local_client_keeps_the_default_and_a_named_jid_gets_what_the_administrator_gave()
    {
        var tiers = new TierPolicy(new TierOptions { ClientTrust = new Dictionary<string, string> { ["admin@moat.test"] = TierOptions.Trusted } });

        Assert.Equal(TierOptions.Trusted, tiers.TrustOf(SandboxSpec.Default with { Client = "local" }));
        Assert.Equal(TierOptions.Trusted, tiers.TrustOf(SandboxSpec.Default with { Client = "admin@moat.test" }));
    }
}
