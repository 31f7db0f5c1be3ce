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
    [InlineData(10)]
    [InlineData(5000)]
    public void Allocate_asks_about_one_address_per_sandbox_however_many_hold_one(int loaded)
    {
        // Issue 19: the lowest-free search walked every address in use, so each create cost more than the last.
        var pool = new AddressPool("198.18.0.0/17");
        var used = new HashSet<IPAddress>();
        for (var i = 0; i < loaded; i++)
        {
            used.Add(pool.Allocate(used.Contains));
        }

        // Free a few behind the cursor, as destroys do, then count the questions the next allocations ask.
        used.Remove(new IPAddress([198, 18, 0, 5]));
        used.Remove(new IPAddress([198, 18, 0, 9]));
        var asked = 0;
        for (var i = 0; i < 20; i++)
        {
            var a = pool.Allocate(ip => { asked++; return used.Contains(ip); });
            Assert.True(used.Add(a), $"{a} was handed out twice");
        }

        Assert.Equal(20, asked);
        Assert.Equal(loaded + 18, used.Count);
    }

    [Fact]
    public void Allocate_comes_round_to_freed_addresses_and_says_when_every_one_is_used()
    {
        var pool = new AddressPool("198.18.5.0/29"); // .1 to .6
        var used = new HashSet<IPAddress>();
        for (var i = 0; i < 6; i++)
        {
            used.Add(pool.Allocate(used.Contains));
        }

        Assert.Throws<ResourceExhaustedException>(() => pool.Allocate(used.Contains));
        used.Remove(IPAddress.Parse("198.18.5.2"));
        Assert.Equal(IPAddress.Parse("198.18.5.2"), pool.Allocate(used.Contains));
    }

    [Theory]
    [InlineData("not-a-prefix")]
    [InlineData("2001:db8::/64")]
    [InlineData("198.18.0.0/31")]
    [InlineData("10.0.0.0/4")]
    public void Constructor_refuses_what_cannot_be_a_pool(string prefix) =>
        Assert.Throws<InvalidRequestException>(() => new AddressPool(prefix));
}
