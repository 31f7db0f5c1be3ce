using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Issue 14 item 2 on the local API (what `moat sandbox run --client stranger --client-address …` sends): naming a
/// neighbour sandbox, the host or the metadata address as the client's is refused before anything is made, and the
/// stranger's sandbox does not reach the neighbour's page.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class ClientAddressWiringTests
{
    [Fact]
    public async Task A_stranger_cannot_name_a_neighbour_the_host_or_the_metadata_address_as_its_client()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.41.0/24", policy: "default-trust: untrusted\n", world: true);
        var owner = await h.Client.CreateAsync(SandboxSpec.Default with
        {
            Name = "owner-web",
            Client = "owner",
            Command = ["sh", "-c", "mkdir -p /www && echo private-page > /www/index.html && exec httpd -f -p 80 -h /www"],
        });
        var stranger = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "stranger", Client = "stranger" });

        foreach (var claimed in new[] { owner.Address!, AgentHarness.HostUplinkAddress, "169.254.169.254", "169.254.1.1", "127.0.0.1", "255.255.255.255" })
        {
            var e = await Assert.ThrowsAsync<HostApiException>(() =>
                h.Client.CreateAsync(SandboxSpec.Default with { Name = "stranger2", Client = "stranger", ClientAddress = claimed }));
            Assert.Equal(400, e.Status);
            Assert.Contains($"client address '{claimed}'", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(await h.Client.ListAsync(), s => s.Name == "stranger2");
        }

        // The neighbour serves its page (to itself), and the stranger that exists cannot fetch it.
        Assert.Contains("private-page", (await h.Client.ExecAsync("owner-web", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 80"], timeoutSeconds: 30)).Stdout, StringComparison.Ordinal);
        var fetch = await h.Client.ExecAsync("stranger", ["sh", "-c", $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {owner.Address} 80"], timeoutSeconds: 30);
        Assert.DoesNotContain("private-page", fetch.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, (await h.Client.ListAsync()).Count);
        _ = stranger;
    }
}
