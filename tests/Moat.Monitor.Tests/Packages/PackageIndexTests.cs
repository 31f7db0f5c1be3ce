using Moat.Monitor.Packages;

namespace Moat.Monitor.Tests.Packages;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PackageIndexTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mtm-pkg-").FullName;

    [Fact]
    public void Load_DpkgDatabase_MapsListedPathsToInstalledPackages()
    {
        Write("var/lib/dpkg/status", """
            Package: coreutils
            Status: install ok installed
            Architecture: amd64
            Version: 9.1-1
            Description: GNU core utilities
             with a continuation line

            Package: removed-tool
            Status: deinstall ok config-files
            Version: 1.0-1

            Package: libc6
            Status: install ok installed
            Architecture: amd64
            Multi-Arch: same
            Version: 2.36-9+deb12u4

            """);
        Write("var/lib/dpkg/info/coreutils.list", "/.\n/usr\n/usr/bin\n/usr/bin/ls\n/bin/cat\n");
        Write("var/lib/dpkg/info/libc6:amd64.list", "/usr/lib/x86_64-linux-gnu/libc.so.6\n");
        Write("var/lib/dpkg/info/removed-tool.list", "/usr/bin/removed\n");

        var index = PackageIndex.Load(_root);

        Assert.Equal(new InstalledPackage("Debian", "coreutils", "9.1-1"), index.Owner("/usr/bin/ls"));
        Assert.Equal(new InstalledPackage("Debian", "coreutils", "9.1-1"), index.Owner("/bin/ls")); // merged /usr
        Assert.Equal(new InstalledPackage("Debian", "coreutils", "9.1-1"), index.Owner("/usr/bin/cat"));
        Assert.Equal("libc6", index.Owner("/usr/lib/x86_64-linux-gnu/libc.so.6")?.Name);
        Assert.Null(index.Owner("/usr/bin/removed"));
        Assert.Null(index.Owner("/usr/local/bin/dropped"));
        Assert.Equal(["coreutils", "libc6"], index.Packages.Select(p => p.Name));
    }

    [Fact]
    public void Load_ApkDatabase_JoinsFoldersAndFiles()
    {
        Write("lib/apk/db/installed", """
            C:Q1abc=
            P:busybox
            V:1.36.1-r15
            A:x86_64
            F:bin
            R:busybox
            F:etc
            R:securetty

            P:curl
            V:8.5.0-r0
            F:usr/bin
            R:curl

            """);

        var index = PackageIndex.Load(_root);

        Assert.Equal(new InstalledPackage("Alpine", "busybox", "1.36.1-r15"), index.Owner("/bin/busybox"));
        Assert.Equal("busybox", index.Owner("/etc/securetty")?.Name);
        Assert.Equal(new InstalledPackage("Alpine", "curl", "8.5.0-r0"), index.Owner("/usr/bin/curl"));
        Assert.Null(index.Owner("/usr/bin/wget"));
    }

    [Fact]
    public void Load_ImageWithoutDatabase_IsEmpty()
    {
        var index = PackageIndex.Load(_root);
        Assert.Empty(index.Packages);
        Assert.Null(index.Owner("/bin/sh"));
    }

    private void Write(string relative, string text)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
