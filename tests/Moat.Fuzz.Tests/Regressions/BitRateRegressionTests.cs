using Moat.Containment.Policy;
using Moat.Containment.Shaping;

namespace Moat.Fuzz.Tests.Regressions;

/// <summary>A rate whose number overflows decimal once multiplied by its unit (found by the fuzzer in a policy's rates).</summary>
[Trait("Category", "Hostile")]
public sealed class BitRateRegressionTests
{
    [Theory]
    [InlineData("110101010101010101010100mbit")]
    [InlineData("79228162514264337593543950335gbit")]
    public void Parse_NumberThatOverflowsWithItsUnit_RefusedAsOutOfRange(string text)
    {
        var e = Assert.Throws<ShapingInputException>(() => BitRate.Parse(text, "egress"));

        Assert.Contains($"'{text}' is not valid", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PolicyParse_RateThatOverflows_RefusedNamingTheField()
    {
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse("rates:\n  semi-trusted: {egress: 110101010101010101010100mbit}\n", "policy.yaml"));

        Assert.Contains("egress", e.Field, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("111111111111110mbit")]   // found: 1.1e20 bit/s overflows long once in bytes
    [InlineData("79228162514264337593543950335gbit")]
    public void PolicyParse_AllowRuleRateThatOverflows_RefusedNamingTheField(string rate)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse($"allow:\n  - prefixes: [198.18.3.0/24]\n    rate: {rate}\n", "policy.yaml"));

        Assert.Equal("allow[0].rate", e.Field);
    }

    [Fact]
    public void Parse_OrdinaryRates_StillParse()
    {
        Assert.Equal(1_500_000_000UL, BitRate.Parse("1.5gbit").BitsPerSecond);
        Assert.Equal(100_000_000_000UL, BitRate.Parse("100gbit").BitsPerSecond);
    }
}
