using Moat.Linux.Mounts;
using Moat.Linux.Namespaces;

namespace Moat.Linux.Tests.Integration;

/// <summary>
/// Each test runs on a thread in a private mount namespace of its own: nothing it mounts is visible to the
/// machine, and everything goes away with the thread even if the test fails half-way.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MountTableTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mtlmnt");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void MountOverlay_ReadsLowerWritesUpperAndShowsInMountinfo()
    {
        InPrivateMountNamespace(findmnt =>
        {
            var (lower, upper, work, target) = (Dir("lower"), Dir("upper"), Dir("work"), Dir("merged"));
            File.WriteAllText(Path.Combine(lower, "from-lower"), "L");
            MountTable.MountOverlay(lower, upper, work, target);
            try
            {
                Assert.Equal("L", File.ReadAllText(Path.Combine(target, "from-lower")));
                File.WriteAllText(Path.Combine(target, "written"), "W");
                Assert.True(File.Exists(Path.Combine(upper, "written")));
                Assert.False(File.Exists(Path.Combine(lower, "written")));

                Assert.True(MountTable.IsMountPoint(target));
                Assert.False(MountTable.IsMountPoint(lower));
                var entry = Assert.Single(MountTable.List(_root.FullName));
                Assert.Equal(target, entry.MountPoint);
                Assert.Equal("overlay", entry.FileSystemType);
                Assert.Contains($"upperdir={upper}", entry.SuperOptions);
                Assert.Equal("overlay", findmnt(target));
            }
            finally
            {
                Assert.True(MountTable.Unmount(target));
            }

            Assert.False(MountTable.IsMountPoint(target));
            Assert.False(MountTable.Unmount(target));
        });
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void MountOverlay_SetuidFileAndDeviceNodeInUpper_GiveAnotherUserNothingOnTheHost()
    {
        // A tenant (root in a container-tier sandbox) leaves a setuid-root copy of id(1) and a device node in its
        // upper layer; a local user who reaches the host-side mount must get neither root nor the device.
        File.SetUnixFileMode(_root.FullName, (UnixFileMode)0x1ED);
        InPrivateMountNamespace(_ =>
        {
            var (lower, upper, work, target) = (Dir("lower"), Dir("upper"), Dir("work"), Dir("merged"));
            foreach (var d in new[] { lower, upper, target })
            {
                File.SetUnixFileMode(d, (UnixFileMode)0x1ED);
            }

            File.Copy("/usr/bin/id", Path.Combine(upper, "id"));
            File.SetUnixFileMode(Path.Combine(upper, "id"), (UnixFileMode)0x9ED);
            Tool.MustRun("mknod", "-m", "0666", Path.Combine(upper, "mem"), "c", "1", "1");
            MountTable.MountOverlay(lower, upper, work, target);
            try
            {
                var euid = Tool.MustRun("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Path.Combine(target, "id"), "-u").Trim();
                Assert.Equal("65534", euid);
                Assert.ThrowsAny<UnauthorizedAccessException>(() => File.OpenRead(Path.Combine(target, "mem")).Dispose());
                var options = Assert.Single(MountTable.List(target)).Options.Split(',');
                Assert.Contains("nosuid", options);
                Assert.Contains("nodev", options);
            }
            finally
            {
                Assert.True(MountTable.Unmount(target));
            }
        });
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void MountOverlay_LayersOnDifferentFileSystems_ReportOneDeviceForEveryFile()
    {
        // The exec monitor tells which sandbox ran a file by its st_dev. A sandbox's upper layer lives on its own disk and
        // the image on the host's: without a uniform device, every sandbox's image files would report the host's device,
        // so one tenant's short-lived execs could be put down to another sandbox.
        InPrivateMountNamespace(_ =>
        {
            var (lower, disk, target) = (Dir("lower"), Dir("disk"), Dir("merged"));
            File.WriteAllText(Path.Combine(lower, "from-image"), "L");
            MountTable.MountTmpfs(disk, 16L << 20);
            var (upper, work) = (Path.Combine(disk, "upper"), Path.Combine(disk, "work"));
            Directory.CreateDirectory(upper);
            Directory.CreateDirectory(work);
            MountTable.MountOverlay(lower, upper, work, target);
            try
            {
                File.WriteAllText(Path.Combine(target, "from-tenant"), "W");
                var root = Device(target);
                Assert.NotEqual(Device(lower), root);
                Assert.Equal(root, Device(Path.Combine(target, "from-image")));
                Assert.Equal(root, Device(Path.Combine(target, "from-tenant")));
            }
            finally
            {
                MountTable.Unmount(target, detach: true);
                MountTable.Unmount(disk, detach: true);
            }
        });
    }

    private static string Device(string path)
    {
        var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%d", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        Assert.Equal(0, stat.ExitCode);
        return output;
    }

    [Fact]
    public void BindMount_ReadOnly_RefusesWrites()
    {
        InPrivateMountNamespace(findmnt =>
        {
            var (source, target) = (Dir("source"), Dir("target"));
            File.WriteAllText(Path.Combine(source, "f"), "x");
            MountTable.BindMount(source, target, readOnly: true);
            Assert.Equal("x", File.ReadAllText(Path.Combine(target, "f")));
            Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(target, "g"), "y"));
            Assert.StartsWith("ro", Assert.Single(MountTable.List(target)).Options, StringComparison.Ordinal);
            Assert.True(MountTable.Unmount(target, detach: true));
        });
    }

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root.FullName, name)).FullName;

    /// <summary>Runs <paramref name="test"/> in a new private mount namespace; it gets a findmnt that looks into that namespace.</summary>
    private static void InPrivateMountNamespace(Action<Func<string, string>> test)
    {
        NamespaceRunner.OnFreshThread(() =>
        {
            Interop.Check(Interop.Unshare(Interop.CLONE_NEWNS), "unshare(CLONE_NEWNS)");
            Interop.Check(Interop.Mount(null, "/", null, Interop.MS_REC | Interop.MS_PRIVATE, null), "make / private");
            var nsPath = $"/proc/{Environment.ProcessId}/task/{Interop.GetTid()}/ns/mnt";
            test(target => Tool.MustRun("nsenter", $"--mount={nsPath}", "findmnt", "-n", "-o", "FSTYPE", target).Trim());
            return true;
        });
    }
}
