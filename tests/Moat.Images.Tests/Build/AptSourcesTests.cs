using Moat.Images.Build;

namespace Moat.Images.Tests.Build;

public sealed class AptSourcesTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Deb822Sources_GiveTheFirstEnabledDebMirrorForTheSuite()
    {
        Directory.CreateDirectory(_temp.Combine("sources.list.d"));
        File.WriteAllText(_temp.Combine("sources.list.d", "a.sources"), """
            Types: deb
            URIs: http://disabled.example/debian
            Suites: bookworm
            Enabled: no

            Types: deb-src
            URIs: http://src.example/debian
            Suites: bookworm

            Types: deb
            # a comment
            URIs: http://mirror.example/debian
            Suites: bookworm bookworm-updates
            Components: main
            """);
        File.WriteAllText(_temp.Combine("sources.list.d", "b.sources.disabled"), "Types: deb\nURIs: http://ignored.example/\nSuites: bookworm\n");

        Assert.Equal("http://mirror.example/debian", AptSources.FindMirror("bookworm", _temp.Path));
        Assert.Null(AptSources.FindMirror("trixie", _temp.Path));
    }

    [Fact]
    public void OneLineSources_SkipOptionsAndComments()
    {
        File.WriteAllText(_temp.Combine("sources.list"), """
            # deb http://commented.example/debian bookworm main
            deb-src http://src.example/debian bookworm main
            deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://one.example/debian bookworm main
            """);

        Assert.Equal("https://one.example/debian", AptSources.FindMirror("bookworm", _temp.Path));
    }

    [Fact]
    public void ThisHost_HasAMirrorForBookworm()
    {
        // The Debian image is built from whatever apt uses here; this host is Debian 12.
        string? mirror = AptSources.FindMirror("bookworm");

        Assert.NotNull(mirror);
        Assert.StartsWith("http", mirror, StringComparison.Ordinal);
    }
}
