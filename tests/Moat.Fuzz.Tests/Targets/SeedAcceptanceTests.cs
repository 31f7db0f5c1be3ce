using Moat.Fuzz.Targets;

namespace Moat.Fuzz.Tests.Targets;

/// <summary>
/// The seeds are well-formed inputs, so each parser must accept them: a refusal here would mean a guard added against
/// hostile input also refuses honest input (and the fuzzer would count it as a mere refusal).
/// </summary>
public sealed class SeedAcceptanceTests
{
    [Theory]
    [InlineData("tar")]
    [InlineData("oci")]
    [InlineData("policy")]
    [InlineData("jobs")]
    [InlineData("ibb")]
    [InlineData("xmpp-stream")]
    [InlineData("packages")]
    public void Seeds_WellFormed_Accepted(string name)
    {
        var target = Assert.Single(FuzzTargets.Select(name));
        target.Setup?.Invoke();
        try
        {
            foreach (byte[] seed in target.Seeds())
            {
                target.Run(seed);
            }
        }
        finally
        {
            target.Teardown?.Invoke();
        }
    }
}
