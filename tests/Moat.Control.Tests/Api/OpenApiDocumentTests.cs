using System.Net;

namespace Moat.Control.Tests.Api;

/// <summary>The OpenAPI document served at /openapi/v1.json is the committed one (docs/openapi/control-v1.json), so an
/// API change shows in review.</summary>
public sealed class OpenApiDocumentTests
{
    [Fact]
    public async Task The_served_document_is_the_committed_copy()
    {
        await using var h = await ControlHarness.StartAsync();
        using var http = h.Http();
        var response = await http.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var served = (await response.Content.ReadAsStringAsync()).ReplaceLineEndings("\n").TrimEnd() + "\n";
        var committed = Path.Combine(RepoRoot(), "docs", "openapi", "control-v1.json");
        if (Environment.GetEnvironmentVariable("MOAT_UPDATE_OPENAPI") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(committed)!);
            await File.WriteAllTextAsync(committed, served);
        }

        Assert.True(File.Exists(committed) && await File.ReadAllTextAsync(committed) == served,
            $"the API's OpenAPI document differs from {committed}; if the change is intended, regenerate it with " +
            "MOAT_UPDATE_OPENAPI=1 dotnet test tests/Moat.Control.Tests --filter FullyQualifiedName~OpenApiDocumentTests and commit it.");
        Assert.Contains("\"/v1/sandboxes\"", served, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Moat.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("the repository root (with Moat.sln) is not above " + AppContext.BaseDirectory);
    }
}
