using Moat.Containment.Shaping;

namespace Moat.Containment.Tests.Shaping;

public sealed class BitRateTests
{
    [Theory]
    [InlineData("20mbit", 20_000_000UL)]
    [InlineData("1.5 Gbit/s", 1_500_000_000UL)]
    [InlineData("500kbit", 500_000UL)]
    [InlineData("64000", 64_000UL)]
    [InlineData("100gbit", 100_000_000_000UL)]
    [InlineData("8kbit", 8_000UL)]
    public void Parse_ValidText_GivesBitsPerSecond(string text, ulong expected) =>
        Assert.Equal(expected, BitRate.Parse(text).BitsPerSecond);

    [Theory]
    [InlineData("0")]
    [InlineData("0mbit")]
    [InlineData("-1mbit")]
    [InlineData("500gbit")]
    [InlineData("7kbit")]
    [InlineData("fast")]
    [InlineData("")]
    [InlineData("10 MB/s")]
    public void Parse_ZeroNegativeAbsurdOrGarbage_RefusedWithOneSentence(string text)
    {
        var e = Assert.Throws<ShapingInputException>(() => BitRate.Parse(text, "egress cap"));
        Assert.Contains($"'{text}'", e.Message);
        Assert.Contains("egress cap", e.Message);
        Assert.Contains("from 8kbit to 100gbit", e.Message);
        Assert.Single(e.Message.Split(". ", StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1_000_000L)]
    [InlineData(1_000_000_000_000L)]
    public void FromBitsPerSecond_OutOfRange_Refused(long value)
    {
        var e = Assert.Throws<ShapingInputException>(() => BitRate.FromBitsPerSecond(value, "rate of class web"));
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        Assert.Contains("use 8kbit to 100gbit", e.Message);
    }

    [Theory]
    [InlineData("1mbit", "1mbit")]
    [InlineData("1500kbit", "1.5mbit")]
    [InlineData("10gbit", "10gbit")]
    [InlineData("9000", "9kbit")]
    public void ToString_UsesLargestUnit(string text, string expected) => Assert.Equal(expected, BitRate.Parse(text).ToString());
}
