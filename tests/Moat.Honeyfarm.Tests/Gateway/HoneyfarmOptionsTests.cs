using System.Net;
using Moat.Honeyfarm.Clones;
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
        { Valid() with { Personalities = [new(IPNetwork.Parse("198.18.0.0/24"), Personality.Default)] }, "inside the dark range" },
        { Valid() with { Personalities = [new(IPNetwork.Parse("198.18.0.0/16"), Personality.Default)] }, "inside the dark range" },
        { Valid() with { Personalities = [new(IPNetwork.Parse("198.18.200.0/24"), new Personality("mute", [], [], ""))] }, "no port" },
        { Valid() with { ScanFilterCapacity = 10 }, "ScanFilterCapacity" },
        { Valid() with { NewSourcesPerSecond = 0 }, "NewSourcesPerSecond" },
        { Valid() with { MaxSources = 64 }, "MaxSources" },
        { Valid() with { RecycleAfterIdle = TimeSpan.FromSeconds(-1) }, "RecycleAfterIdle" },
        { Valid() with { UdpReplies = new() { PerSecond = 10, PerSenderPerSecond = 20 } }, "UdpReplies" },
    };

    [Fact]
    public void The_longest_matching_personality_range_answers_an_address()
    {
        var web = Personality.Known["web-server"];
        var iot = Personality.Known["iot-telnet"];
        var options = Valid() with
        {
            Personalities = [new(IPNetwork.Parse("198.18.200.0/22"), web), new(IPNetwork.Parse("198.18.201.0/24"), iot)],
        };

        Assert.Same(web, options.PersonalityOf(IPAddress.Parse("198.18.200.9")));
        Assert.Same(iot, options.PersonalityOf(IPAddress.Parse("198.18.201.9")));
        Assert.Same(Personality.Default, options.PersonalityOf(IPAddress.Parse("198.18.130.1")));
        Assert.Equal([Personality.Default, web, iot], options.AllPersonalities);
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_IsRefusedWithOneSentenceNamingTheSetting(HoneyfarmOptions options, string named)
    {
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(named, e.Message);
    }
}
