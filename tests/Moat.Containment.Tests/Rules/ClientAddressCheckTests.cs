using System.Net;
using Moat.Containment.Policy;
using Moat.Containment.Rules;

namespace Moat.Containment.Tests.Rules;

/// <summary>Issue 14 item 2 at the input: what a tenant may not name as its client's address, in one sentence each.</summary>
public sealed class ClientAddressCheckTests
{
    private static readonly ContainmentOptions Host = new()
    {
        HostAddresses = [IPAddress.Parse("198.18.0.1")],
        LanPrefixes = [IPNetwork.Parse("198.18.1.0/24"), IPNetwork.Parse("198.18.100.0/24")],
        SandboxPool = IPNetwork.Parse("198.18.100.0/24"),
    };

    private static readonly AdminPolicy Policy = PolicyParser.Parse("""
        client-addresses:
          alice: [198.18.1.10, 198.18.100.7]
        """, "p.yaml");

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("198.18.100.3", "sandbox pool 198.18.100.0/24 (another sandbox)")]
    [InlineData("198.18.100.7", "sandbox pool")]          // bound by the policy, still another sandbox's
    [InlineData("198.18.0.1", "this host's own address")]
    [InlineData("198.18.1.20", "this host's network 198.18.1.0/24")]
    [InlineData("169.254.169.254", "link-local")]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("255.255.255.255", "broadcast")]
    [InlineData("::1", "not an IPv4 address")]
    public void A_client_address_naming_what_no_sandbox_may_reach_is_refused_in_one_sentence(string address, string why)
    {
        var refusal = ClientAddressCheck.Refusal(IPAddress.Parse(address), "alice", Policy, Host, sandboxPool: null);

        Assert.NotNull(refusal);
        Assert.Contains($"'{address}'", refusal, StringComparison.Ordinal);
        Assert.Contains(why, refusal, StringComparison.Ordinal);
        Assert.Contains("give the IPv4 address of the client's own machine", refusal, StringComparison.Ordinal);
        Assert.Single(refusal.Split(". ", StringSplitOptions.None));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void A_lan_address_the_policy_binds_to_the_client_is_accepted_for_that_client_only()
    {
        Assert.Null(ClientAddressCheck.Refusal(IPAddress.Parse("198.18.1.10"), "alice", Policy, Host, sandboxPool: null));
        Assert.Contains("'client-addresses'", ClientAddressCheck.Refusal(IPAddress.Parse("198.18.1.10"), "mallory", Policy, Host, sandboxPool: null), StringComparison.Ordinal);
        Assert.Null(ClientAddressCheck.Refusal(IPAddress.Parse("203.0.113.9"), "mallory", Policy, Host, sandboxPool: null));
    }

    [Fact]
    public void The_policy_reads_client_addresses_and_refuses_a_bad_one_naming_line_and_field()
    {
        Assert.True(Policy.Binds("alice", IPAddress.Parse("198.18.1.10")));
        Assert.False(Policy.Binds("alice", IPAddress.Parse("198.18.1.11")));
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse("client-addresses:\n  alice: [eve]\n", "p.yaml"));
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("client-addresses.alice", e.Message, StringComparison.Ordinal);
    }
}
