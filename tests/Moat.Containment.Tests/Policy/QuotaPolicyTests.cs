using Moat.Containment.Policy;
using Moat.Containment.Trust;

namespace Moat.Containment.Tests.Policy;

/// <summary>Issue 14 item 8 in the policy: remote clients default to untrusted; quotas per trust level and per client.</summary>
public sealed class QuotaPolicyTests
{
    [Fact]
    [Trait("Category", "Hostile")]
    public void A_jid_the_policy_does_not_name_is_untrusted_even_when_the_default_for_local_clients_is_trusted()
    {
        var policy = PolicyParser.Parse("default-trust: trusted\nclients: { admin@moat.test: trusted }\n", "p.yaml");

        Assert.Equal(TrustLevel.Untrusted, policy.TrustFor("jobs@moat.test"));
        Assert.Equal(TrustLevel.Trusted, policy.TrustFor("admin@moat.test"));
        Assert.Equal(TrustLevel.Trusted, policy.TrustFor("local"));
        Assert.Equal(TrustLevel.SemiTrusted, PolicyParser.Parse("remote-default-trust: semi-trusted\n", "p.yaml").TrustFor("jobs@moat.test"));
    }

    [Fact]
    public void Quotas_come_from_the_client_then_its_trust_level_then_the_defaults()
    {
        var policy = PolicyParser.Parse("""
            quotas:
              untrusted: { sandboxes: 2 }
              clients:
                Jobs@Moat.Test: { memory: 64GiB, execs: unlimited }
            """, "p.yaml");

        Assert.Equal(new ClientQuota(2, 2L << 30, 4), policy.QuotaFor("mallory", TrustLevel.Untrusted));
        Assert.Equal(new ClientQuota(2, 64L << 30, ClientQuota.Unlimited), policy.QuotaFor("jobs@moat.test", TrustLevel.Untrusted));
        Assert.Equal(ClientQuota.DefaultFor(TrustLevel.SemiTrusted), policy.QuotaFor("sam", TrustLevel.SemiTrusted));
        Assert.Equal(new ClientQuota(ClientQuota.Unlimited, ClientQuota.UnlimitedBytes, ClientQuota.Unlimited), policy.QuotaFor("alice", TrustLevel.Trusted));
    }

    [Theory]
    [InlineData("quotas:\n  untrusted: { sandboxes: many }\n", "quotas.untrusted.sandboxes", "is not a count")]
    [InlineData("quotas:\n  untrusted: { memory: 2TB }\n", "quotas.untrusted.memory", "is not a size")]
    [InlineData("quotas:\n  root: { execs: 1 }\n", "quotas.root", "neither a trust level")]
    [InlineData("quotas:\n  untrusted: { disks: 1 }\n", "quotas.untrusted.disks", "unknown key")]
    public void A_bad_quota_is_refused_naming_line_and_field(string yaml, string field, string why)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse(yaml, "p.yaml"));
        Assert.Contains($"field '{field}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }
}
