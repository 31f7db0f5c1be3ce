using Moat.Fuzz.Engine;
using Moat.Fuzz.Targets;

namespace Moat.Fuzz.Tests.Targets;

/// <summary>
/// The short CI run: every parser of outside input gets a few thousand mutated inputs (fixed seed, so a failure
/// reproduces) and must answer each with a result or its documented refusal: no crash, no hang, no allocation out of
/// proportion to the input. The recorded million-input runs are in docs/benchmarks/fuzz.md.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ParserFuzzTests
{
    // Targets that unpack files run fewer inputs, so the whole class stays near a minute on two cores.
    private static readonly Dictionary<string, int> Slow = new() { ["tar"] = 1000, ["oci"] = 1000, ["packages"] = 1000, ["policy"] = 2000 };

    public static TheoryData<string> Targets => [.. FuzzTargets.Names];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Target_ShortRun_NoCrashNoHangNoMemoryBlowUp(string name)
    {
        var target = Assert.Single(FuzzTargets.Select(name));
        var options = FuzzOptions.Default with { Inputs = Slow.GetValueOrDefault(name, 4000), Seed = 20261207, HangLimit = TimeSpan.FromSeconds(2) };

        var result = new FuzzRunner(options).Run(target);

        Assert.True(result.Findings.Count == 0, string.Join("\n", result.Findings.Select(f =>
            $"{f.Kind} x{f.Count} at input {f.Index}: {f.Signature}; minimised input (base64): {Convert.ToBase64String(f.Minimised)}")));
        Assert.Equal(options.Inputs, result.Inputs);
    }
}
