namespace Moat.Linux.Tests.Integration;

/// <summary>Names and addresses for one test: everything starts with "mtl" and lives in 198.19.250.0/24.</summary>
internal static class TestNames
{
    private static int s_counter;

    /// <summary>A short unique name "mtl" + tag + number, short enough for an interface (15 bytes).</summary>
    public static string Unique(string tag) =>
        $"mtl{tag}{Environment.ProcessId % 1000}x{Interlocked.Increment(ref s_counter)}";
}
