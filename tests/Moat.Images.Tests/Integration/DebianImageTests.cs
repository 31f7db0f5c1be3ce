using System.Diagnostics;
using Moat.Images.Build;
using Moat.Images.Store;
using Xunit.Abstractions;

namespace Moat.Images.Tests.Integration;

/// <summary>Builds the Debian image with debootstrap from this host's apt mirror (a minute or more; needs the mirror).</summary>
[Trait("Category", "Integration")]
public sealed class DebianImageTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    [Trait("Category", "Slow")]
    public async Task BuildDebian_GivesARunnableMinbaseWithDpkg()
    {
        var store = ImageStore.Open(_temp.Combine("images"));
        var lines = new List<ImageProgress>();
        var stopwatch = Stopwatch.StartNew();

        ImageInfo image = await store.BuildDebianAsync("debian", progress: new SynchronousProgress(lines.Add));

        output.WriteLine($"debootstrap + digest took {stopwatch.Elapsed.TotalSeconds:0.0} s; {image.Size} bytes in {image.FileCount} entries");
        string rootfs = store.RootfsPath(image);
        var (exitCode, stdout, stderr) = await Tool.RunAsync("chroot", rootfs, "/usr/bin/dpkg-query", "-W", "-f=${Status}", "bash");
        Assert.True(exitCode == 0, stderr);
        Assert.Equal("install ok installed", stdout);
        Assert.Equal(PackageManager.Dpkg, image.PackageManager);
        Assert.Equal("moat\n", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc/hostname")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(rootfs, "var/cache/apt/archives"), "*.deb"));
        Assert.Contains(lines, p => p.Stage == "debootstrap" && p.Message.Contains("Base system installed successfully", StringComparison.Ordinal));
        Assert.Contains(AptSources.FindMirror("bookworm")!, image.Source, StringComparison.Ordinal);
        Assert.Equal(["debian"], image.Tags);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task BuildDebian_CancelledMidInstall_LeavesNoTempAndNoMounts()
    {
        var store = ImageStore.Open(_temp.Combine("images"));
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(p =>
        {
            // debootstrap has mounted /proc in the target by the time it installs packages.
            if (p.Message.StartsWith("I: Unpacking", StringComparison.Ordinal) || p.Message.StartsWith("I: Configuring", StringComparison.Ordinal))
            {
                cancellation.Cancel();
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.BuildDebianAsync("debian", progress: progress, cancellationToken: cancellation.Token));

        Assert.True(cancellation.IsCancellationRequested, "the build finished before it could be cancelled");
        Assert.Empty(Directory.EnumerateDirectories(store.Root));
        Assert.DoesNotContain(store.Root, await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildDebian_UnreachableMirror_FailsClearlyAndLeavesNothing()
    {
        var store = ImageStore.Open(_temp.Combine("images"));

        // Port 9 (discard) on loopback: nothing listens, so debootstrap fails at once.
        var error = await Assert.ThrowsAsync<ImageBuildException>(
            () => store.BuildDebianAsync("debian", new DebianBuildOptions(Mirror: "http://127.0.0.1:9/debian")));

        Assert.Contains("debootstrap bookworm from http://127.0.0.1:9/debian failed", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(store.Root));
    }

    private sealed class SynchronousProgress(Action<ImageProgress> report) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value) => report(value);
    }
}
