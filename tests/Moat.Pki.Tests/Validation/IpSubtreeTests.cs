using System.Net;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.Validation;

public sealed class IpSubtreeTests
{
    [Theory]
    [InlineData("198.18.0.0/16", "198.18.255.1", true)]
    [InlineData("198.18.0.0/16", "198.19.0.1", false)]
    [InlineData("198.18.1.5/32", "198.18.1.5", true)]
    [InlineData("198.18.1.5/32", "198.18.1.4", false)]
    [InlineData("0.0.0.0/0", "203.0.113.1", true)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "198.18.0.1", false)]
    public void Contains_FollowsTheMask(string prefix, string address, bool expected)
    {
        var subtree = IpSubtree.FromPrefix(IPNetwork.Parse(prefix));

        Assert.Equal(expected, subtree.Contains(IPAddress.Parse(address).GetAddressBytes()));
    }

    [Fact]
    public void Encoding_RoundTripsAddressAndMask()
    {
        var subtree = IpSubtree.FromPrefix(IPNetwork.Parse("198.18.0.0/15"));

        Assert.Equal(new byte[] { 198, 18, 0, 0, 255, 254, 0, 0 }, subtree.Encode());
        Assert.Equal("198.18.0.0/15", IpSubtree.FromEncoding(subtree.Encode())!.Value.ToString());
    }

    [Theory]
    [InlineData(new byte[] { 198, 18, 0, 0, 255, 0, 255, 0 })]
    [InlineData(new byte[] { 198, 18, 0, 0, 255, 255, 0 })]
    [InlineData(new byte[] { 198, 18, 0, 0 })]
    public void FromEncoding_RefusesBadLengthOrNonContiguousMask(byte[] encoded)
    {
        Assert.Null(IpSubtree.FromEncoding(encoded));
    }
}
