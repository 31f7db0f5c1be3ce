using System.Net;
using Moat.Containment.Policy;
using Moat.Containment.Rules;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// Issue 14 item 2: a client address is the tenant's claim. Naming a neighbour sandbox, a LAN host, the host or the
/// metadata address as "my client" must not open a path the fixed deny set, the LAN or the neighbour refusals close.
/// </summary>
public sealed class ClientAddressOrderTests
{
    private static readonly AdminPolicy Policy = PolicyParser.Parse("""
        clients:
          sam: semi-trusted
        allow:
          - name: web
            prefixes: [198.19.50.0/24]
            protocols: [tcp]
            ports: [80]
        """, "p.yaml");

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("mallory", "198.18.100.3")]
    [InlineData("sam", "198.18.100.3")]
    [InlineData("mallory", "198.18.1.20")]
    [InlineData("sam", "169.254.169.254")]
    public void A_claimed_client_address_never_precedes_the_fixed_lan_and_neighbour_refusals(string client, string claimed)
    {
        var sandbox = new SandboxNetwork("ab12", "mhab12", IPAddress.Parse("198.18.100.2"), client, IPAddress.Parse(claimed));

        var ids = RuleCompiler.Compile(Policy, sandbox, ContainmentOptions.Default).Select(r => r.RuleId).ToList();

        var accept = ids.IndexOf("client");
        Assert.True(accept > ids.IndexOf(RuleCompiler.RuleFixed), string.Join(" ", ids));
        Assert.True(accept > ids.IndexOf(RuleCompiler.RuleLan), string.Join(" ", ids));
    }
}

/// <summary>The same claim against real rules in namespaces: the stranger's sandbox must not reach what it names.</summary>
[Collection("containment-world")]
[Trait("Category", "Integration")]
public sealed class ClientAddressHostileTests
{
    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_stranger_naming_a_neighbour_a_lan_host_or_the_host_as_its_client_reaches_none_of_them()
    {
        using var world = new ContainmentWorld();
        var neighbour = world.AddSandbox("carol"); // the owner's trusted sandbox: its replies are not filtered
        var stranger = world.AddSandbox("stranger");
        world.Rules.Reconcile([neighbour.Sandbox, stranger.Sandbox with { ClientAddress = null }]);

        // Control: without a client address the neighbour's page is refused, and the neighbour serves it.
        Assert.False(await Probe.TcpAsync(stranger.Namespace, neighbour.Sandbox.Address, 80));

        foreach (var claimed in new[] { neighbour.Sandbox.Address, ContainmentWorld.LanHost, ContainmentWorld.HostUplink, IPAddress.Parse("169.254.169.254") })
        {
            world.Rules.Apply(stranger.Sandbox with { ClientAddress = claimed });
            Assert.False(await Probe.TcpAsync(stranger.Namespace, neighbour.Sandbox.Address, 80), $"client address {claimed} opened the neighbour's page");
            Assert.False(await Probe.TcpAsync(stranger.Namespace, claimed, 80), $"client address {claimed} opened itself");
        }

        // Control: a client address outside the host's networks still works for the stranger.
        world.Rules.Apply(stranger.Sandbox with { ClientAddress = ContainmentWorld.Internet });
        Assert.True(await Probe.TcpAsync(stranger.Namespace, ContainmentWorld.Internet, 80), "control: the stranger's own client should be reachable");
    }
}
