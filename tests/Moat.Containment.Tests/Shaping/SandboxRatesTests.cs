using System.Net;
using Moat.Containment.Shaping;

namespace Moat.Containment.Tests.Shaping;

public sealed class SandboxRatesTests
{
    private static readonly IPNetwork Anywhere = IPNetwork.Parse("0.0.0.0/0");

    [Fact]
    public void Validate_ZeroEgress_NamesTheSandboxAndTheValidRange()
    {
        var rates = new SandboxRates { Egress = default };
        var e = Assert.Throws<ShapingInputException>(() => rates.Validate("sb7"));
        Assert.Equal("The egress cap of sandbox sb7 of 0 bit/s is not valid: use 8kbit to 100gbit.", e.Message);
    }

    [Fact]
    public void Validate_FlowFasterThanTheCap_Refused()
    {
        var rates = new SandboxRates
        {
            Egress = BitRate.Parse("10mbit"),
            Flows = [new FlowClass("bulk", Anywhere) { Rate = BitRate.Parse("20mbit") }],
        };
        var e = Assert.Throws<ShapingInputException>(() => rates.Validate("sb7"));
        Assert.Contains("'bulk'", e.Message);
        Assert.Contains("20mbit", e.Message);
        Assert.Contains("use at most 10mbit", e.Message);
    }

    [Fact]
    public void Validate_PortWithoutProtocol_Refused()
    {
        var rates = new SandboxRates { Egress = BitRate.Parse("10mbit"), Flows = [new FlowClass("web", Anywhere) { Port = 80 }] };
        var e = Assert.Throws<ShapingInputException>(() => rates.Validate("sb7"));
        Assert.Contains("port 80 without a protocol", e.Message);
    }

    [Fact]
    public void Validate_TooManyFlows_Refused()
    {
        var flows = Enumerable.Range(0, SandboxRates.MaxFlows + 1).Select(i => new FlowClass($"f{i}", IPNetwork.Parse($"198.18.{i}.0/24"))).ToList();
        var e = Assert.Throws<ShapingInputException>(() => new SandboxRates { Egress = BitRate.Parse("10mbit"), Flows = flows }.Validate("sb7"));
        Assert.Contains("15 flow classes", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    public void Validate_BadFlowName_Refused(string name)
    {
        var rates = new SandboxRates { Egress = BitRate.Parse("10mbit"), Flows = [new FlowClass(name, Anywhere)] };
        var e = Assert.Throws<ShapingInputException>(() => rates.Validate("sb7"));
        Assert.Contains($"'{name}'", e.Message);
    }

    [Fact]
    public void Validate_DuplicateFlowNames_Refused()
    {
        var rates = new SandboxRates
        {
            Egress = BitRate.Parse("10mbit"),
            Flows = [new FlowClass("a", Anywhere), new FlowClass("a", IPNetwork.Parse("198.18.0.0/16"))],
        };
        Assert.Contains("two flow classes named 'a'", Assert.Throws<ShapingInputException>(() => rates.Validate("sb7")).Message);
    }

    [Fact]
    public void Validate_TypicalRates_Accepted()
    {
        var rates = new SandboxRates
        {
            Egress = BitRate.Parse("100mbit"),
            Ingress = BitRate.Parse("50mbit"),
            Flows = [new FlowClass("data", IPNetwork.Parse("198.19.0.2/32")), new FlowClass("dns", Anywhere) { Protocol = FlowProtocol.Udp, Port = 53, Rate = BitRate.Parse("64kbit") }],
            Rest = BitRate.Parse("1mbit"),
        };
        rates.Validate("sb7");
    }
}
