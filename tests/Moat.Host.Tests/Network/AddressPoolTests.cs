using System.Net;
using Moat.Host;
using Moat.Host.Network;

namespace Moat.Host.Tests.Network;

public sealed class AddressPoolTests
{
    [Fact]
    public void Allocate_skips_network_address_and_used_ones()
    {
        var pool = new AddressPool("198.18.5.0/29");
        Assert.Equal(IPAddress.Parse("198.18.5.1"), pool.Allocate(new HashSet<string>()));
        Assert.Equal(IPAddress.Parse("198.18.5.3"), pool.Allocate(new HashSet<string> { "198.18.5.1", "198.18.5.2" }));
    }

    [Fact]
    public void Allocate_never_hands_out_broadcast_and_says_when_exhausted()
    {
        var pool = new AddressPool("198.18.5.0/30");
        Assert.Equal(2, pool.Capacity);
        var used = new HashSet<string> { "198.18.5.1", "198.18.5.2" };
        var e = Assert.Throws<ResourceExhaustedException>(() => pool.Allocate(used));
        Assert.Contains("198.18.5.0/30", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not-a-prefix")]
    [InlineData("2001:db8::/64")]
    [InlineData("198.18.0.0/31")]
    [InlineData("10.0.0.0/4")]
    public void Constructor_refuses_what_cannot_be_a_pool(string prefix) =>
        Assert.Throws<InvalidRequestException>(() => new AddressPool(prefix));
}
