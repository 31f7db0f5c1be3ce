namespace Moat.Containment.Bench;

/// <summary>Data path benchmark (filled in below).</summary>
internal static class DataPathBench
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(0);
}
