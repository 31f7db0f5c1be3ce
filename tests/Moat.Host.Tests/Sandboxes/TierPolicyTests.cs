using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

public sealed class TierPolicyTests
{
    private static readonly TierPolicy Policy = new(new TierOptions
    {
        ClientTrust = new Dictionary<string, string>
        {
            ["eve"] = TierOptions.Untrusted,
            ["sam"] = TierOptions.SemiTrusted,
            ["mallory"] = TierOptions.Untrusted,
        },
        ClientTier = new Dictionary<string, RuntimeTier> { ["mallory"] = RuntimeTier.Container, ["bob"] = RuntimeTier.Vm },
    });

    [Theory]
    [InlineData("alice", RuntimeTier.Container)] // trusted by default
    [InlineData("sam", RuntimeTier.Container)]   // semi-trusted
    [InlineData("eve", RuntimeTier.Gvisor)]      // untrusted
    [InlineData("mallory", RuntimeTier.Container)] // untrusted, but the administrator said container
    [InlineData("bob", RuntimeTier.Vm)]          // trusted, but the administrator said vm
    public void Tier_left_out_follows_trust_or_the_administrators_override(string client, RuntimeTier expected) =>
        Assert.Equal(expected, Policy.Select(SandboxSpec.Default with { Client = client }));

    [Theory]
    [InlineData("alice", RuntimeTier.Gvisor)]
    [InlineData("alice", RuntimeTier.Vm)]
    [InlineData("eve", RuntimeTier.Vm)]
    [InlineData("eve", RuntimeTier.Gvisor)]
    public void Client_may_ask_for_a_stronger_tier_or_its_own(string client, RuntimeTier asked) =>
        Assert.Equal(asked, Policy.Select(SandboxSpec.Default with { Client = client, Tier = asked }));

    [Theory]
    [InlineData("eve", RuntimeTier.Container, "gvisor")]
    [InlineData("bob", RuntimeTier.Gvisor, "vm")]
    public void Client_asking_for_a_weaker_tier_is_refused_in_one_sentence(string client, RuntimeTier asked, string floor)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Policy.Select(SandboxSpec.Default with { Client = client, Tier = asked }));
        Assert.Contains($"'{asked.Name()}' is weaker than '{floor}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(client, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trust_of_an_unnamed_client_is_the_default_trust()
    {
        var strict = new TierPolicy(new TierOptions { DefaultTrust = TierOptions.Untrusted });
        Assert.Equal(RuntimeTier.Gvisor, strict.Select(SandboxSpec.Default with { Client = "anyone" }));
    }

    [Fact]
    public void Options_with_an_unknown_trust_level_are_refused_naming_it()
    {
        var e = Assert.Throws<InvalidRequestException>(() =>
            new TierOptions { ClientTrust = new Dictionary<string, string> { ["x"] = "sort-of" } }.Validate());
        Assert.Contains("'sort-of'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("container", RuntimeTier.Container)]
    [InlineData("GVISOR", RuntimeTier.Gvisor)]
    [InlineData("vm", RuntimeTier.Vm)]
    public void Tier_names_parse(string text, RuntimeTier tier) => Assert.Equal(tier, RuntimeTiers.Parse(text));

    [Fact]
    public void Unknown_tier_name_is_refused_with_the_valid_names() =>
        Assert.Contains("container, gvisor or vm", Assert.Throws<InvalidRequestException>(() => RuntimeTiers.Parse("kata")).Message, StringComparison.Ordinal);

    [Fact]
    public void Tier_is_written_in_json_by_its_lowercase_name()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(SandboxSpec.Default with { Tier = RuntimeTier.Gvisor });
        Assert.Contains("\"Tier\":\"gvisor\"", json, StringComparison.Ordinal);
        Assert.Equal(RuntimeTier.Gvisor, System.Text.Json.JsonSerializer.Deserialize<SandboxSpec>(json)!.Tier);
    }

    [Fact]
    public void HandedOut_is_the_tier_of_each_trust_level_the_policy_gives()
    {
        // The policy scripts/up writes: unnamed clients untrusted, the owner trusted, the jobs account semi-trusted.
        var scriptsUp = new ClientTrustLevels(
            new Dictionary<string, string> { ["local"] = TierOptions.Trusted, ["jobs@moat.test"] = TierOptions.SemiTrusted },
            TierOptions.Untrusted,
            TierOptions.Untrusted);
        var contained = new TierPolicy(TierOptions.Default, trustLevels: () => scriptsUp);
        Assert.Equal([RuntimeTier.Container, RuntimeTier.Gvisor], contained.HandedOut(remoteClients: false));

        // No policy file: local clients are trusted; remote ones count only where the host serves the fabric.
        var plain = new TierPolicy(TierOptions.Default);
        Assert.Equal([RuntimeTier.Container], plain.HandedOut(remoteClients: false));
        Assert.Equal([RuntimeTier.Container, RuntimeTier.Gvisor], plain.HandedOut(remoteClients: true));

        // The administrator's tier for a client is handed out too.
        var vm = new TierPolicy(TierOptions.Default with { ClientTier = new Dictionary<string, RuntimeTier> { ["carol"] = RuntimeTier.Vm } });
        Assert.Equal([RuntimeTier.Container, RuntimeTier.Vm], vm.HandedOut(remoteClients: false));
    }
}
