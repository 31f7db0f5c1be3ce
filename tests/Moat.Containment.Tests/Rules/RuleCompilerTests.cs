using System.Net;
using Moat.Containment.Policy;
using Moat.Containment.Rules;
using Moat.Containment.Trust;
using Moat.Linux.Nftables;

namespace Moat.Containment.Tests.Rules;

public sealed class RuleCompilerTests
{
    private static readonly AdminPolicy Policy = PolicyParser.Parse("""
        clients:
          carol: trusted
          sam: semi-trusted
        allow:
          - name: web
            prefixes: [198.19.50.0/24]
            protocols: [tcp]
            ports: [80, 443]
          - name: relay
            prefixes: [198.19.60.25]
            protocols: [tcp]
            ports: [25]
            rate: 1mbit
        """, "p.yaml");

    private static SandboxNetwork Sandbox(string client, TrustLevel? requested = null) =>
        new("ab12", "mhab12", IPAddress.Parse("198.18.100.2"), client, IPAddress.Parse("198.18.1.10"), requested);

    [Fact]
    public void Throttle_ComesFirstWhateverTheTrust_AsAnInvertedByteLimitThatDrops()
    {
        foreach (var client in new[] { "carol", "mallory" })
        {
            var rules = RuleCompiler.Compile(Policy, Sandbox(client), ContainmentOptions.Default, throttleBytesPerSecond: 125_000);
            Assert.Equal("throttle", rules[0].RuleId);
            var limit = Assert.IsType<NftLimit>(rules[0].Expressions[0]);
            Assert.Equal((125_000UL, 1UL, NftLimitType.Bytes, true), (limit.Rate, limit.UnitSeconds, limit.Type, limit.Invert));
            Assert.Equal(NftVerdict.Drop, Assert.IsType<NftImmediate>(rules[0].Expressions[^1]).Verdict);
            Assert.Equal(RuleCompiler.Compile(Policy, Sandbox(client), ContainmentOptions.Default).Select(r => r.RuleId), rules.Skip(1).Select(r => r.RuleId));
        }
    }

    [Fact]
    public void Trusted_OneAcceptRule()
    {
        var rules = RuleCompiler.Compile(Policy, Sandbox("carol"), ContainmentOptions.Default);
        var rule = Assert.Single(rules);
        Assert.Equal(NftVerdict.Accept, Assert.IsType<NftImmediate>(rule.Expressions[^1]).Verdict);
    }

    [Fact]
    public void Untrusted_RefusalsAreLoggedWithSandboxAndRuleId_NoPolicyRules()
    {
        var rules = RuleCompiler.Compile(Policy, Sandbox("mallory"), ContainmentOptions.Default);

        Assert.Equal(
            ["not-ipv4", "spoof", "fixed", "smtp", "authcert", "authcert-port", "authcert-port", "lan", "client", "tunnel", "default"],
            rules.Select(r => r.RuleId));

        // The tunnel rule accepts only what routing sends out of this sandbox's own tunnel link.
        var tunnel = rules.Single(r => r.RuleId == "tunnel");
        Assert.Equal(NftMetaKey.OutputInterfaceName, Assert.IsType<NftMeta>(tunnel.Expressions[0]).Key);
        Assert.Equal(NftValue.InterfaceName("mtab12"), Assert.IsType<NftCmp>(tunnel.Expressions[1]).Data);
        foreach (var refusal in rules.Where(r => Assert.IsType<NftImmediate>(r.Expressions[^1]).Verdict == NftVerdict.Drop))
        {
            var log = Assert.Single(refusal.Expressions.OfType<NftLog>());
            Assert.Equal(7, log.Group);
            Assert.Equal($"moat ab12 {refusal.RuleId}", log.Prefix);
        }

        var host = RuleCompiler.CompileHostInput(Policy, Sandbox("mallory"), ContainmentOptions.Default);
        Assert.Equal("moat ab12 host", Assert.Single(host!.Expressions.OfType<NftLog>()).Prefix);
        Assert.Null(RuleCompiler.CompileHostInput(Policy, Sandbox("carol"), ContainmentOptions.Default));
    }

    [Fact]
    public void SemiTrusted_SmtpOpeningRuleComesBeforeTheSmtpRefusal_OthersAfterTheClient()
    {
        var ids = RuleCompiler.Compile(Policy, Sandbox("sam"), ContainmentOptions.Default).Select(r => r.RuleId).ToList();

        Assert.True(ids.IndexOf("allow:relay") < ids.IndexOf("smtp"));
        Assert.True(ids.IndexOf("allow:relay:over-rate") < ids.IndexOf("smtp"));
        Assert.Equal(2, ids.Count(i => i == "allow:web"));
        Assert.True(ids.IndexOf("allow:web") > ids.IndexOf("smtp"));
        Assert.True(ids.LastIndexOf("allow:web") < ids.IndexOf("lan"));
        Assert.True(ids.IndexOf("client") > ids.IndexOf("lan"));
        Assert.DoesNotContain("tunnel", ids);
    }

    [Fact]
    public void A_client_address_the_policy_binds_to_the_client_is_accepted_before_the_lan_refusal_for_that_client_only()
    {
        var policy = Policy with { ClientAddresses = new Dictionary<string, IReadOnlyList<IPNetwork>> { ["mallory"] = [IPNetwork.Parse("198.18.1.10/32")] } };

        var bound = RuleCompiler.Compile(policy, Sandbox("mallory"), ContainmentOptions.Default).Select(r => r.RuleId).ToList();
        var claimed = RuleCompiler.Compile(policy, Sandbox("eve"), ContainmentOptions.Default).Select(r => r.RuleId).ToList();

        Assert.Equal(["not-ipv4", "spoof", "fixed", "smtp", "client", "authcert", "authcert-port", "authcert-port", "lan", "tunnel", "default"], bound);
        Assert.True(claimed.IndexOf("client") > claimed.IndexOf("lan"));
    }

    [Fact]
    public void SemiTrustedClientAskingForUntrusted_GetsUntrustedRules()
    {
        var ids = RuleCompiler.Compile(Policy, Sandbox("sam", TrustLevel.Untrusted), ContainmentOptions.Default).Select(r => r.RuleId);
        Assert.DoesNotContain(ids, i => i.StartsWith("allow:", StringComparison.Ordinal));
    }
}
