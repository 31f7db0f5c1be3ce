using Moat.Containment.Names;
using Moat.Containment.Policy;
using Moat.Containment.Trust;

namespace Moat.Containment.Tests.Names;

public sealed class NamePatternTests
{
    [Theory]
    [InlineData("api.example.org", "api.example.org", true)]
    [InlineData("API.Example.org.", "api.example.org", true)]
    [InlineData("api.example.org", "x.api.example.org", false)]
    [InlineData("*.example.org", "api.example.org", true)]
    [InlineData("*.example.org", "a.b.example.org", true)]
    [InlineData("*.example.org", "example.org", false)]
    [InlineData("*.example.org", "badexample.org", false)]
    [InlineData("*.example.org", "example.org.evil.net", false)]
    public void Matches(string pattern, string name, bool expected) =>
        Assert.Equal(expected, NamePattern.Parse(pattern).Matches(name));

    [Fact]
    public void DenyWinsOverAllow_AndDohServicesAreAlwaysDenied()
    {
        var names = EgressNames.Parse(["*.example.org", "dns.google"], ["ads.example.org"]);
        Assert.Equal(NameDecision.Allowed, names.Decide("api.example.org"));
        Assert.Equal(NameDecision.Denied, names.Decide("ads.example.org"));
        Assert.Equal(NameDecision.NotListed, names.Decide("example.net"));
        Assert.Equal(NameDecision.Denied, names.Decide("dns.google"));
    }

    [Fact]
    public void Policy_NamesPerLevelAndClient_AreCombined()
    {
        var policy = PolicyParser.Parse(
            """
            clients: { sam: semi-trusted }
            names:
              semi-trusted: { allow: ["*.example.org"], deny: [ads.example.org] }
              clients:
                sam: { allow: [data.example.net] }
            """,
            "p.yaml");
        var sam = policy.NamesFor("sam", TrustLevel.SemiTrusted);
        Assert.Equal(NameDecision.Allowed, sam.Decide("data.example.net"));
        Assert.Equal(NameDecision.Allowed, sam.Decide("api.example.org"));
        Assert.Equal(NameDecision.Denied, sam.Decide("ads.example.org"));
        Assert.Equal(NameDecision.NotListed, policy.NamesFor("other", TrustLevel.Untrusted).Decide("api.example.org"));
    }
}

[Trait("Category", "Hostile")]
public sealed class NamePatternHostileTests
{
    [Theory]
    [InlineData("")]
    [InlineData("*")]
    [InlineData("*.")]
    [InlineData("a..b")]
    [InlineData("ex*mple.org")]
    [InlineData("*.*.example.org")]
    [InlineData("a.*.example.org")]
    [InlineData("exa mple.org")]
    [InlineData("exämple.org")]
    [InlineData("evil.org\nallow: *")]
    [InlineData("198.18.0.0/15")]
    [InlineData("a.org\r\n2026-12-07 moat: all clear")]
    public void NotAName_IsRefusedWithOneSentence(string text)
    {
        var e = Assert.Throws<ContainmentInputException>(() => NamePattern.Parse(text));
        Assert.Contains("is not a name", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(".", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message); // an input cannot forge a second log line
    }

    [Fact]
    public void LabelAndNameLengthLimits_AreEnforced()
    {
        Assert.Throws<ContainmentInputException>(() => NamePattern.Parse(new string('a', 64) + ".org"));
        Assert.Throws<ContainmentInputException>(() => NamePattern.Parse(string.Join('.', Enumerable.Repeat(new string('a', 63), 4)) + ".org"));
        Assert.NotNull(NamePattern.Parse(new string('a', 63) + ".org"));
    }

    [Fact]
    public void TooManyEntries_IsRefused()
    {
        var many = Enumerable.Range(0, EgressNames.MaxEntries + 1).Select(i => $"n{i}.example.org");
        Assert.Throws<ContainmentInputException>(() => EgressNames.Parse(many, []));
    }

    [Theory]
    [InlineData("names: [a.org]", "names")]
    [InlineData("names: { bogus: { allow: [a.org] } }", "names.bogus")]
    [InlineData("names: { untrusted: { allow: ['ex*mple.org'] } }", "names.untrusted.allow")]
    [InlineData("names: { untrusted: { permit: [a.org] } }", "names.untrusted.permit")]
    [InlineData("names: { untrusted: { allow: [[a.org]] } }", "names.untrusted.allow")]
    [InlineData("names: { clients: [a] }", "names.clients")]
    [InlineData("names: { untrusted: [a.org] }", "names.untrusted")]
    public void BadPolicyNames_AreRefusedNamingTheField(string yaml, string field)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse(yaml, "p.yaml"));
        Assert.Equal(field, e.Field);
    }
}
