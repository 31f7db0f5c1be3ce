using System.Text.Json.Nodes;
using Moat.Images.Store;

namespace Moat.Images.Tests.Integration;

/// <summary>Builds the busybox image for real and runs it with chroot and runc, as sandboxes will.</summary>
[Trait("Category", "Integration")]
public sealed class BusyboxImageTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public BusyboxImageTests()
    {
        _store = ImageStore.Open(_temp.Combine("images"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task BuiltRootfs_RunsBusyboxUnderChroot()
    {
        ImageInfo image = await _store.BuildBusyboxAsync("busybox");
        string rootfs = _store.RootfsPath(image);

        var (exitCode, _, stderr) = await Tool.RunAsync("chroot", rootfs, "/bin/busybox", "true");
        var (shExit, stdout, _) = await Tool.RunAsync("chroot", rootfs, "/bin/sh", "-c", "ls /tmp >/dev/null 2>&1; cat /etc/hostname; id -u");

        Assert.True(exitCode == 0, stderr);
        Assert.Equal(0, shExit);
        Assert.Equal("moat\n0\n", stdout);
        Assert.False(new DirectoryInfo(rootfs).LinkTarget is not null, "runc refuses a symlinked rootfs path");
        Assert.Equal(UnixFileMode.StickyBit, File.GetUnixFileMode(Path.Combine(rootfs, "tmp")) & UnixFileMode.StickyBit);
        Assert.Equal(["busybox"], image.Tags);
        Assert.True(image.FileCount > 200, $"expected one link per applet, found {image.FileCount} entries");
    }

    [Fact]
    public async Task BuildingTwice_GivesTheSameDigest()
    {
        ImageInfo first = await _store.BuildBusyboxAsync("one");
        ImageInfo second = await _store.BuildBusyboxAsync("two");

        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(["one", "two"], _store.Get(first.Digest).Tags);
    }

    [Theory]
    [InlineData("runc")]
    public async Task RuntimeThroughAnOverlay_WritesOnlyTheUpperAndTheImageStaysUnchanged(string runtime)
    {
        ImageInfo image = await _store.BuildBusyboxAsync("busybox");
        string lower = _store.RootfsPath(image);
        string passwdBefore = await File.ReadAllTextAsync(Path.Combine(lower, "etc/passwd"));
        string upper = _temp.Combine("sandbox", "upper");
        string work = _temp.Combine("sandbox", "work");
        string merged = _temp.Combine("sandbox", "bundle", "rootfs");
        string runcRoot = _temp.Combine("runc-state");
        string id = "img-test-" + Guid.NewGuid().ToString("N")[..8];
        foreach (string dir in new[] { upper, work, merged, runcRoot })
        {
            Directory.CreateDirectory(dir);
        }

        await Tool.RunCheckedAsync("mount", "-t", "overlay", "overlay", "-o", $"lowerdir={lower},upperdir={upper},workdir={work}", merged);
        try
        {
            Assert.True(OverlayUsage.IsMountedLower(lower));
            await Assert.ThrowsAsync<ImageInUseException>(() => _store.RemoveAsync("busybox", i => OverlayUsage.IsMountedLower(_store.RootfsPath(i))));

            await File.WriteAllTextAsync(_temp.Combine("sandbox", "bundle", "config.json"), RuncConfig(merged,
                "/bin/busybox true && echo pwned >> /etc/passwd && rm /bin/ls && echo proof > /tmp/proof && cat /tmp/proof"));
            // crun is not listed: on this cgroups-v1 hybrid host it refuses to start ("cgroups in hybrid mode not supported").
            var (exitCode, stdout, stderr) = await Tool.RunAsync(runtime, ["--root", runcRoot, "run", "--bundle", _temp.Combine("sandbox", "bundle"), id]);

            Assert.True(exitCode == 0, $"{runtime} failed: {stdout} {stderr}");
            Assert.Equal("proof\n", stdout);
            Assert.Contains("pwned", await File.ReadAllTextAsync(Path.Combine(merged, "etc/passwd")), StringComparison.Ordinal);
        }
        finally
        {
            await Tool.RunAsync(runtime, "--root", runcRoot, "delete", "--force", id);
            await Tool.RunAsync("umount", merged);
        }

        Assert.True(File.Exists(Path.Combine(upper, "tmp/proof")));
        Assert.Equal(passwdBefore, await File.ReadAllTextAsync(Path.Combine(lower, "etc/passwd")));
        Assert.True(Path.Exists(Path.Combine(lower, "bin/ls")));
        Assert.True(await _store.VerifyAsync(image), "the image tree changed although the sandbox only had it as an overlay lower layer");
    }

    private static string RuncConfig(string rootfs, string script)
    {
        var config = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
                ["args"] = new JsonArray("/bin/sh", "-c", script),
                ["env"] = new JsonArray("PATH=/bin:/sbin:/usr/bin:/usr/sbin"),
                ["cwd"] = "/",
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = rootfs, ["readonly"] = false },
            ["hostname"] = "img-test",
            ["mounts"] = new JsonArray(
                new JsonObject { ["destination"] = "/proc", ["type"] = "proc", ["source"] = "proc" },
                new JsonObject
                {
                    ["destination"] = "/dev",
                    ["type"] = "tmpfs",
                    ["source"] = "tmpfs",
                    ["options"] = new JsonArray("nosuid", "mode=755", "size=1m"),
                }),
            ["linux"] = new JsonObject
            {
                ["namespaces"] = new JsonArray(
                    new JsonObject { ["type"] = "pid" },
                    new JsonObject { ["type"] = "network" },
                    new JsonObject { ["type"] = "ipc" },
                    new JsonObject { ["type"] = "uts" },
                    new JsonObject { ["type"] = "mount" }),
            },
        };
        return config.ToJsonString();
    }
}
