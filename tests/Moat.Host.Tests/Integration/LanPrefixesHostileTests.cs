using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// `moat host --lan PREFIX`: a host on the agent's uplink subnet (the world namespace, 198.18.250.2) is a LAN host. A
/// stranger may not name it as its client's address (which would open a path and a tunnel to it), and the containment's
/// LAN set holds the prefix, so no untrusted sandbox's chain lets it through.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class LanPrefixesHostileTests
{
    private const string Lan = "198.18.250.0/30";

    [Fact]
    public async Task A_stranger_cannot_name_a_LAN_host_as_its_client_nor_reach_it()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.63.0/24", policy: "default-trust: untrusted\n", world: true,
            configure: o => o with { Lan = [Lan] });
        using var listener = await AgentHarness.ListenAsync(h.WorldNs!, 9000);
        try
        {
            var e = await Assert.ThrowsAsync<HostApiException>(() =>
                h.Client.CreateAsync(SandboxSpec.Default with { Name = "stranger", Client = "stranger", ClientAddress = AgentHarness.WorldAddress }));
            Assert.Equal(400, e.Status);
            Assert.Contains($"client address '{AgentHarness.WorldAddress}' is in this host's network {Lan}", e.Message, StringComparison.Ordinal);
            Assert.Empty(await h.Client.ListAsync());

            // A stranger that exists (no client address) cannot reach the LAN host either.
            await h.Client.CreateAsync(SandboxSpec.Default with { Name = "stranger", Client = "stranger" });
            var fetch = await h.Client.ExecAsync("stranger", ["sh", "-c", $"echo hello | nc -w 2 {AgentHarness.WorldAddress} 9000; echo exit=$?"], timeoutSeconds: 30);
            Assert.DoesNotContain("exit=0", fetch.Stdout, StringComparison.Ordinal);

            var lanSet = (await AgentHarness.Must(h.InHostNs("nft", "-j", "list", "set", "inet", "moat", "lan"))).Out;
            Assert.Contains("198.18.250.0", lanSet, StringComparison.Ordinal);
        }
        finally
        {
            listener.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void A_lan_that_is_not_an_IPv4_prefix_is_refused_with_one_sentence()
    {
        foreach (var bad in new[] { "198.18.250.1/30", "lan", "::1/128", "198.18.250.0" })
        {
            var e = Assert.Throws<InvalidRequestException>(() => new Moat.Host.Agent.HostAgentOptions { Lan = [bad] }.Validate());
            Assert.StartsWith($"--lan '{bad}' is not an IPv4 prefix", e.Message, StringComparison.Ordinal);
        }
    }
}
