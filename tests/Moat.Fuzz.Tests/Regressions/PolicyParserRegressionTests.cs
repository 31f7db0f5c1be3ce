using Moat.Containment.Policy;

namespace Moat.Fuzz.Tests.Regressions;

/// <summary>Policy YAML the fuzzer found (minimised) that escaped the parser as something other than a PolicyException.</summary>
[Trait("Category", "Hostile")]
public sealed class PolicyParserRegressionTests
{
    [Theory]
    [InlineData(": {\na")]          // YamlDotNet's scanner throws InvalidOperationException
    [InlineData("!![")]             // a global tag that is not a URI: ArgumentException
    [InlineData("a: !<%zz> b")]     // the same for a verbatim tag
    public void Parse_YamlTheLibraryChokesOn_RefusedAsSyntaxError(string yaml)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Parse(yaml, "policy.yaml"));

        Assert.Equal("(syntax)", e.Field);
        Assert.StartsWith("policy.yaml line ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[", "]")]
    [InlineData("{a: ", "}")]
    [InlineData("- ", "")]
    public void Parse_DeeplyNestedYaml_RefusedBeforeTheTreeIsBuilt(string open, string close)
    {
        // 20,000 levels: enough to overflow the stack of the recursive tree builder on a thread-pool thread.
        string yaml = string.Concat(Enumerable.Repeat(open, 20_000)) + "x" + string.Concat(Enumerable.Repeat(close, 20_000));
        PolicyException? refused = null;
        var thread = new Thread(() => refused = Record.Exception(() => PolicyParser.Parse(yaml, "policy.yaml")) as PolicyException, 1536 * 1024);
        thread.Start();
        thread.Join();

        Assert.NotNull(refused);
        Assert.Contains("nested deeper than", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_OrdinaryPolicy_StillParses()
    {
        var policy = PolicyParser.Parse("default-trust: semi-trusted\nallow:\n  - prefixes: [198.18.3.0/24]\n    ports: [5432]\n    protocols: [tcp]\n", "policy.yaml");

        Assert.Single(policy.Allow);
    }
}
