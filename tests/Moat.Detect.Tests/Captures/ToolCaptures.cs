namespace Moat.Detect.Tests.Captures;

/// <summary>Finds the captures made with the real tools (this folder, beside make-captures.sh): walk up to Moat.sln.</summary>
internal static class ToolCaptures
{
    private static readonly Lazy<string> Root = new(Find);

    internal static byte[] Read(string name) => File.ReadAllBytes(Path.Combine(Root.Value, name));

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Moat.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "Moat.Detect.Tests", "Captures");
            }
        }

        throw new InvalidOperationException("No folder above the test binaries holds Moat.sln, so the tool captures cannot be found.");
    }
}
