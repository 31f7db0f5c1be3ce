using Moat.Detect.Detectors;
using Moat.Detect.Response;

namespace Moat.Detect.Tests.Response;

public sealed class ResponsePolicyTests
{
    [Fact]
    public void Load_MapsKindsPerTrustLevel_AndFallsBackToTheLevelDefault()
    {
        var policy = ResponsePolicy.Load("""
            trusted:
              default: record
            semi-trusted:
              default: throttle
              port-scan: quarantine
            untrusted:
              default: quarantine
              trw: kill
            """);

        Assert.Equal(ResponseAction.Record, policy.Decide(TrustLevel.Trusted, AlertKinds.ThresholdRandomWalk));
        Assert.Equal(ResponseAction.Quarantine, policy.Decide(TrustLevel.SemiTrusted, AlertKinds.PortScan));
        Assert.Equal(ResponseAction.Throttle, policy.Decide(TrustLevel.SemiTrusted, AlertKinds.SmtpFanOut));
        Assert.Equal(ResponseAction.Kill, policy.Decide(TrustLevel.Untrusted, AlertKinds.ThresholdRandomWalk));
        Assert.Equal(ResponseAction.Quarantine, policy.Decide(TrustLevel.Untrusted, AlertKinds.BackdoorPort));
    }

    [Fact]
    public void Load_LevelLeftOut_KeepsTheBuiltInRow()
    {
        var policy = ResponsePolicy.Load("trusted: { default: throttle }");

        Assert.Equal(ResponseAction.Throttle, policy.Decide(TrustLevel.Trusted, AlertKinds.PortScan));
        Assert.Equal(ResponseAction.Kill, policy.Decide(TrustLevel.Untrusted, AlertKinds.BackdoorPort));
    }

    [Theory]
    [InlineData("friends: { default: record }", "Trust level 'friends'")]
    [InlineData("trusted: { port-scann: record }", "Alert kind 'port-scann'")]
    [InlineData("trusted: { default: nuke }", "Action 'nuke'")]
    [InlineData("trusted: [1, 2]", "not a mapping")]
    public void Load_BadEntry_NamesItAndWhatIsValid(string yaml, string expected)
    {
        var e = Assert.Throws<ResponsePolicyException>(() => ResponsePolicy.Load(yaml));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
