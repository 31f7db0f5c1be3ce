using System.Net;
using Moat.Honeyfarm.Gateway;

namespace Moat.Honeyfarm.Tests.Gateway;

public sealed class HoneyfarmOptionsTests
{
    private static HoneyfarmOptions Valid() => new() { DarkRange = IPNetwork.Parse("198.18.128.0/17"), OutsideInterface = "out0" };

    [Fact]
    public void Defaults_AreValid() => Valid().Validate();

    public static TheoryData<HoneyfarmOptions, string> Invalid() => new()
    {
        { Valid() with { DarkRange = IPNetwork.Parse("2001:db8::/48") }, "Dark range" },
        { Valid() with { DarkRange = IPNetwork.Parse("0.0.0.0/0") }, "Dark range" },
        { Valid() with { MaxClones = 0 }, "MaxClones" },
        { Valid() with { WarmClones = 300, MaxClones = 10 }, "WarmClones" },
        { Valid() with { MaxUniverses = 0 }, "MaxUniverses" },
        { Valid() with { IdleTimeout = TimeSpan.Zero }, "IdleTimeout" },
        { Valid() with { SharedFraction = 1.5 }, "SharedFraction" },
        { Valid() with { ScanFilterInterval = TimeSpan.FromSeconds(-1) }, "ScanFilterInterval" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_IsRefusedWithOneSentenceNamingTheSetting(HoneyfarmOptions options, string named)
    {
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(named, e.Message);
    }
}
