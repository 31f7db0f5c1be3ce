using Moat.Monitor.Rules;

namespace Moat.Monitor.Tests.Rules;

public sealed class RuleSetTests
{
    private static readonly RuleSet Defaults = RuleSet.Default();

    private static string[] Fired(ExecRecord r) => [.. Defaults.Evaluate(r).Select(a => a.Rule)];

    [Fact]
    public void Default_PackagedBinary_RaisesNothing() => Assert.Empty(Fired(TestRecords.Exec()));

    [Fact]
    public void Default_Drift_RaisesBinaryNotInImage() =>
        Assert.Equal(["binary-not-in-image"], Fired(TestRecords.Exec(path: "/usr/local/bin/tool", drift: true)));

    [Fact]
    public void Default_ShellInJobSandbox_Raises_ButNotInServiceSandbox()
    {
        Assert.Equal(["shell-in-job-sandbox"], Fired(TestRecords.Exec(path: "/bin/bash", kind: "job", interpreter: "bash")));
        Assert.Empty(Fired(TestRecords.Exec(path: "/bin/bash", kind: "service", interpreter: "bash")));
    }

    [Fact]
    public void Default_ScriptFromTmp_Raises() =>
        Assert.Contains("script-from-tmp", Fired(TestRecords.Exec(path: "/usr/bin/python3.11", interpreter: "python3.11", script: "/tmp/stage2.py")));

    [Fact]
    public void Default_MinerByNameOrPool_RaisesCritical()
    {
        var byName = Defaults.Evaluate(TestRecords.Exec(path: "/opt/xmrig", drift: true)).Single(a => a.Rule == "known-miner");
        Assert.Equal("critical", byName.Priority);
        Assert.Contains("known-miner", Fired(TestRecords.Exec(path: "/usr/bin/x", argv: ["x", "-o", "stratum+tcp://pool:3333"])));
    }

    [Fact]
    public void Default_DeletedOrMemfdExecution_Raises()
    {
        Assert.Contains("anonymous-execution", Fired(TestRecords.Exec(verification: VerificationStatus.AnonymousExecution)));
        Assert.Contains("anonymous-execution", Fired(TestRecords.Exec(verification: VerificationStatus.FileDeleted)));
    }

    [Theory]
    [InlineData("rules:\n  - rule: x\n    condition:\n      all:\n        - { field: colour, equals: red }\n", "field 'colour'")]
    [InlineData("rules:\n  - rule: x\n    condition:\n      all:\n        - { field: path, equals: a, contains: b }\n", "2 operators")]
    [InlineData("rules:\n  - rule: x\n    condition:\n      all:\n        - { field: path, matches: '(' }\n", "invalid regular expression")]
    [InlineData("rules:\n  - rule: x\n", "empty condition")]
    [InlineData("rules:\n  - rule: x\n    colour: red\n", "not valid rules YAML")]
    public void Parse_BadRules_OneSentenceNamingTheProblem(string yaml, string expected)
    {
        var ex = Assert.Throws<RuleFormatException>(() => RuleSet.Parse(yaml, "test.yaml"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("test.yaml", ex.Message, StringComparison.Ordinal);
    }
}
