namespace Moat.Detect.Tests.Conformance;

/// <summary>Finds the shared conformance folder: walk up to the folder holding Moat.sln, then ../shared/conformance.</summary>
internal static class ConformanceData
{
    private static readonly Lazy<string> Root = new(Find);

    internal static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    internal static IEnumerable<string> Captures(string folder) =>
        Directory.EnumerateFiles(Path(folder))
            .Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal)
                || f.EndsWith(".cap", StringComparison.Ordinal) || f.EndsWith(".trace", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Moat.sln")))
            {
                return System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared", "conformance"));
            }
        }

        throw new InvalidOperationException("No folder above the test binaries holds Moat.sln, so the conformance data cannot be found.");
    }
}
