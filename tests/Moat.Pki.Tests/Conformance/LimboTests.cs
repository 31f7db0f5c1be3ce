namespace Moat.Pki.Tests.Conformance;

[Trait("Category", "Hostile")]
public sealed class LimboTests
{
    private static readonly Lazy<IReadOnlyList<LimboCase>> s_cases = new(LimboCase.LoadAll);

    public static TheoryData<string> ApplicableCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in LimboCase.LoadAll().Where(c => c.IsApplicable))
        {
            data.Add(c.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ApplicableCases))]
    public void ApplicableLimboCase_GivesExpectedResult(string id)
    {
        var testCase = s_cases.Value.Single(c => c.Id == id);

        var refusal = testCase.Run();

        Assert.True(
            (refusal is null) == testCase.ExpectSuccess,
            $"{id}: expected {(testCase.ExpectSuccess ? "SUCCESS" : "FAILURE")}, validator said {refusal?.Reason.ToString() ?? "valid"} {refusal?.Detail}");
    }

    [Fact]
    public void SelectionRule_KeepsEveryIpCaseAnd77InAll()
    {
        var all = LimboCase.LoadAll();
        var applicable = all.Where(c => c.IsApplicable).ToList();

        // Every IP-address case is in, whatever its category; the rule drops only whole DNS-only categories.
        Assert.All(all.Where(c => c.PeerKind == "IP"), c => Assert.Contains(c, applicable));
        Assert.Equal(135, all.Count);
        Assert.Equal(77, applicable.Count);
    }
}
