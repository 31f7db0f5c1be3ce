namespace Moat.Pki.Tests.Conformance;

/// <summary>Finds the peers' conformance suites by walking up to the repository root (the folder with Moat.sln).</summary>
internal static class ConformanceData
{
    public static string PathOf(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Moat.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new InvalidOperationException("Moat.sln not found above " + AppContext.BaseDirectory);
        }

        return Path.Combine([dir.FullName, "..", "shared", "conformance", .. parts]);
    }
}
