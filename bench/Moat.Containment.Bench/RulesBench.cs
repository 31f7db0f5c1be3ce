namespace Moat.Containment.Bench;

/// <summary>Rule application benchmark (filled in below).</summary>
internal static class RulesBench
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(0);
}
