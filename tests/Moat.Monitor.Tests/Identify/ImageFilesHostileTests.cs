using System.Security.Cryptography;
using System.Text;
using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

/// <summary>
/// The exec monitor compares what a sandbox ran with its image's copy. The path comes from the sandbox (under gVisor,
/// from the sandbox's own kernel) and the image from whoever built it: neither may make the host hash its own files.
/// </summary>
[Trait("Category", "Hostile")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ImageFilesHostileTests : IDisposable
{
    private const string Secret = "host-only content";
    private static readonly string SecretSha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Secret)));

    private readonly string _image = Directory.CreateTempSubdirectory("mtm-image-").FullName;
    private readonly string _host = Directory.CreateTempSubdirectory("mtm-host-").FullName;

    [Fact]
    public void Sha256_PathClimbingOutOfTheImage_IsLookedUpInsideTheImage()
    {
        File.WriteAllText(Path.Combine(_host, "tool"), Secret);
        using var files = new ImageFiles(_image, new FileFingerprinter());

        string? sha = files.Sha256("/../../../../../../../.." + _host + "/tool");

        Assert.Null(sha);
    }

    [Fact]
    public void Sha256_ImageSymlinkToAHostFile_ResolvesInsideTheImage()
    {
        File.WriteAllText(Path.Combine(_host, "tool"), Secret);
        Directory.CreateDirectory(Path.Combine(_image, "usr/bin"));
        Directory.CreateDirectory(Path.Combine(_image, _host.TrimStart('/')));
        File.WriteAllText(Path.Combine(_image, _host.TrimStart('/'), "tool"), "the image's own copy");
        File.CreateSymbolicLink(Path.Combine(_image, "usr/bin/tool"), Path.Combine(_host, "tool"));
        File.CreateSymbolicLink(Path.Combine(_image, "opt"), _host);
        using var files = new ImageFiles(_image, new FileFingerprinter());

        Assert.NotEqual(SecretSha, files.Sha256("/usr/bin/tool"));
        Assert.NotEqual(SecretSha, files.Sha256("/opt/tool"));
        Assert.NotNull(files.Sha256("/usr/bin/tool")); // the image's own file at the link's target
    }

    [Fact]
    public async Task Sha256_ImageFileIsAFifoOrDevZero_AnswersPromptlyWithoutHashing()
    {
        Directory.CreateDirectory(Path.Combine(_image, "bin"));
        File.CreateSymbolicLink(Path.Combine(_image, "bin/zero"), "/dev/zero");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(_image, "bin/fifo")))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        using var files = new ImageFiles(_image, new FileFingerprinter());

        // A bound, not a wait: hashing /dev/zero or opening a FIFO never returns and stalls every sandbox's monitoring.
        var (zero, fifo) = await Task.Run(() => (files.Sha256("/bin/zero"), files.Sha256("/bin/fifo"))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("", fifo);
        Assert.True(zero is null or "");
    }

    [Fact]
    public void Sha256_EverNewPaths_KeepTheCacheBounded()
    {
        using var files = new ImageFiles(_image, new FileFingerprinter());

        for (int i = 0; i < ImageFiles.MaxCacheEntries + 10; i++)
        {
            files.Sha256($"/tmp/x{i}");
        }

        Assert.True(files.Remembered <= ImageFiles.MaxCacheEntries);
    }

    public void Dispose()
    {
        Directory.Delete(_image, recursive: true);
        Directory.Delete(_host, recursive: true);
    }
}
