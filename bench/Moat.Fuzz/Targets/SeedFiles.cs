using System.Text;

namespace Moat.Fuzz.Targets;

/// <summary>Seed inputs from the shared conformance corpora (../shared/conformance from the repository root, never copied in).</summary>
internal static class SeedFiles
{
    private static readonly Lazy<string?> ConformanceFolder = new(FindConformance);

    /// <summary>The conformance folder, or null where this checkout has none beside it (the targets then use their built-in seeds).</summary>
    public static string? Conformance => ConformanceFolder.Value;

    /// <summary>Files under the conformance folder whose names end in one of <paramref name="extensions"/>, largest last.</summary>
    public static IReadOnlyList<byte[]> Read(params string[] extensions)
    {
        if (Conformance is null)
        {
            return [];
        }

        return Directory.EnumerateFiles(Conformance, "*", SearchOption.AllDirectories)
            .Where(f => extensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes)
            .ToList();
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    public static IReadOnlyList<byte[]> Tokens(params string[] tokens) => tokens.Select(Utf8).ToList();

    private static string? FindConformance()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Moat.sln")))
                {
                    string folder = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "conformance"));
                    return Directory.Exists(folder) ? folder : null;
                }
            }
        }

        return null;
    }
}
