using Moat.Monitor.Packages;

namespace Moat.Monitor.Tests.Packages;

/// <summary>
/// An image's package database is written by whoever built the image: its paths are read inside the image, never
/// through it onto the host, and its size is bounded.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait("Category", "Hostile")]
public sealed class PackageIndexHostileTests : IDisposable
{
    private const string HostStanza = "Package: host-secret\nStatus: install ok installed\nVersion: 6.6.6\n\n";

    private readonly string _root = Directory.CreateTempSubdirectory("mtm-pkg-image-").FullName;
    private readonly string _host = Directory.CreateTempSubdirectory("mtm-pkg-host-").FullName;

    [Fact]
    public void Load_StatusIsAbsoluteSymlinkToAHostFile_ReadsNothingFromTheHost()
    {
        File.WriteAllText(Path.Combine(_host, "status"), HostStanza);
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg"));
        File.CreateSymbolicLink(Path.Combine(_root, "var/lib/dpkg/status"), Path.Combine(_host, "status"));

        var index = PackageIndex.Load(_root);

        Assert.DoesNotContain(index.Packages, p => p.Name == "host-secret");
    }

    [Fact]
    public void Load_StatusIsRelativeSymlinkClimbingOutOfTheImage_ReadsNothingFromTheHost()
    {
        File.WriteAllText(Path.Combine(_host, "status"), HostStanza);
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg"));
        File.CreateSymbolicLink(Path.Combine(_root, "var/lib/dpkg/status"), "../../../../../../../../../../.." + Path.Combine(_host, "status"));

        var index = PackageIndex.Load(_root);

        Assert.DoesNotContain(index.Packages, p => p.Name == "host-secret");
    }

    [Fact]
    public void Load_PackageNameWithDotDot_DoesNotReadAListFileOnTheHost()
    {
        File.WriteAllText(Path.Combine(_host, "stolen.list"), "/etc/host-only-path\n");
        string climb = string.Concat(Enumerable.Repeat("../", 12)) + _host.TrimStart('/') + "/stolen";
        Write("var/lib/dpkg/status", $"Package: {climb}\nStatus: install ok installed\nVersion: 1\n\n");
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg/info"));

        var index = PackageIndex.Load(_root);

        Assert.Null(index.Owner("/etc/host-only-path"));
    }

    [Fact]
    public void Load_ListFileIsSymlinkToAHostFile_ReadsNothingFromTheHost()
    {
        File.WriteAllText(Path.Combine(_host, "paths"), "/etc/host-only-path\n");
        Write("var/lib/dpkg/status", "Package: tool\nStatus: install ok installed\nVersion: 1\n\n");
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg/info"));
        File.CreateSymbolicLink(Path.Combine(_root, "var/lib/dpkg/info/tool.list"), Path.Combine(_host, "paths"));

        var index = PackageIndex.Load(_root);

        Assert.Single(index.Packages);
        Assert.Null(index.Owner("/etc/host-only-path"));
    }

    [Fact]
    public async Task Load_StatusIsSymlinkToDevZero_ReturnsPromptlyWithNoPackages()
    {
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg"));
        File.CreateSymbolicLink(Path.Combine(_root, "var/lib/dpkg/status"), "/dev/zero");
        Directory.CreateDirectory(Path.Combine(_root, "lib/apk/db"));
        File.CreateSymbolicLink(Path.Combine(_root, "lib/apk/db/installed"), "/dev/zero");

        // A bound, not a wait: reading /dev/zero to its end never finishes and takes the agent's memory with it.
        var index = await Task.Run(() => PackageIndex.Load(_root)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(index.Packages);
    }

    [Fact]
    public void Load_StatusIsAFifo_ReturnsWithNoPackages()
    {
        Directory.CreateDirectory(Path.Combine(_root, "lib/apk/db"));
        File.WriteAllText(Path.Combine(_root, "lib/apk/db/installed"), "P:musl\nV:1.2.4-r2\n\n");
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg"));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(_root, "var/lib/dpkg/status")))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var index = PackageIndex.Load(_root);

        Assert.Equal(["musl"], index.Packages.Select(p => p.Name));
    }

    [Fact]
    public void Load_StatusLargerThanTheLimit_IsRefusedWithOneSentenceAndTheRestStillLoads()
    {
        Directory.CreateDirectory(Path.Combine(_root, "lib/apk/db"));
        File.WriteAllText(Path.Combine(_root, "lib/apk/db/installed"), "P:musl\nV:1.2.4-r2\n\n");
        Directory.CreateDirectory(Path.Combine(_root, "var/lib/dpkg"));
        using (var huge = File.Create(Path.Combine(_root, "var/lib/dpkg/status")))
        {
            huge.SetLength(PackageIndex.MaxDatabaseBytes + 1); // sparse: no disk used
        }

        var index = PackageIndex.Load(_root);

        Assert.Equal(["musl"], index.Packages.Select(p => p.Name));
        var problem = Assert.Single(index.Problems);
        Assert.Contains("var/lib/dpkg/status", problem, StringComparison.Ordinal);
        Assert.Contains("bytes", problem, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_host, recursive: true);
    }

    private void Write(string relative, string text)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
