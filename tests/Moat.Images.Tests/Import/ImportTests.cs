using System.Formats.Tar;
using Moat.Images.Import;
using Moat.Images.Store;
using static Moat.Images.Tests.Import.LayerEntry;
using static Moat.Images.Tests.Import.TestArchives;

namespace Moat.Images.Tests.Import;

public sealed class ImportTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImportTests()
    {
        _store = ImageStore.Open(_temp.Combine("store"));
    }

    public void Dispose() => _temp.Dispose();

    private static byte[] BaseLayer() => Layer(
        Dir("etc/"),
        File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        File("etc/motd", "hello\n"),
        Dir("opt/"),
        Dir("opt/app/"),
        File("opt/app/old.txt", "old"),
        Dir("opt/app/sub/"),
        File("opt/app/sub/deep.txt", "deep"),
        Symlink("etc/link", "passwd"),
        Dir("bin/"),
        File("bin/tool", "#!/bin/sh\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.SetUser));

    private static byte[] UpperLayer() => Layer(
        new LayerEntry("etc/.wh.motd"),
        Dir("opt/app/"),
        new LayerEntry("opt/app/.wh..wh..opq"),
        File("opt/app/new.txt", "new"),
        HardLink("bin/tool2", "bin/tool"),
        File("etc/passwd", "root:x:0:0::/root:/bin/ash\n"));

    [Fact]
    public async Task DockerSave_AppliesLayersInOrderWithWhiteoutsAndOpaqueDirs()
    {
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteDockerSave(archive, [BaseLayer(), UpperLayer()], repoTag: "example:latest");

        ImageInfo image = await _store.ImportAsync(archive, tag: null);

        string root = _store.RootfsPath(image);
        Assert.Equal(["example:latest"], image.Tags);
        Assert.Equal("root:x:0:0::/root:/bin/ash\n", System.IO.File.ReadAllText(Path.Combine(root, "etc/passwd")));
        Assert.False(Path.Exists(Path.Combine(root, "etc/motd")), "whiteout .wh.motd must delete motd from the lower layer");
        Assert.False(Path.Exists(Path.Combine(root, "etc/.wh.motd")), "whiteout files themselves are not part of the tree");
        Assert.Equal(["new.txt"], Directory.EnumerateFileSystemEntries(Path.Combine(root, "opt/app")).Select(Path.GetFileName));
        Assert.Equal("passwd", new FileInfo(Path.Combine(root, "etc/link")).LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.SetUser, System.IO.File.GetUnixFileMode(Path.Combine(root, "bin/tool")));
        var tool = Interop.Libc.LStat(Path.Combine(root, "bin/tool"))!.Value;
        var tool2 = Interop.Libc.LStat(Path.Combine(root, "bin/tool2"))!.Value;
        Assert.Equal(tool.Inode, tool2.Inode);
        Assert.Equal(["/bin/sh", "-c", "echo hi"], image.Config.Cmd);
        Assert.Equal(["/init"], image.Config.Entrypoint);
        Assert.Equal("/srv", image.Config.WorkingDir);
        Assert.Equal("1000:1000", image.Config.User);
        Assert.Equal(["PATH=/bin", "A=1"], image.Config.Env);
        Assert.StartsWith("import docker-save", image.Source, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OciLayout_WithGzipLayers_GivesTheSameDigestAsTheDockerSaveOfTheSameLayers()
    {
        string docker = _temp.Combine("docker.tar");
        string oci = _temp.Combine("oci.tar");
        byte[][] layers = [BaseLayer(), UpperLayer()];
        TestArchives.WriteDockerSave(docker, layers);
        TestArchives.WriteOci(oci, layers, refName: "example:oci", gzip: true);

        ImageInfo fromDocker = await _store.ImportAsync(docker, "from-docker");
        ImageInfo fromOci = await _store.ImportAsync(oci, tag: null);

        Assert.Equal(fromDocker.Digest, fromOci.Digest);
        Assert.Equal(["from-docker", "example:oci"], fromOci.Tags);
        Assert.Single(_store.List());
    }

    [Fact]
    public async Task OciLayout_GzipWrappedOuterArchive_IsImported()
    {
        string tar = _temp.Combine("oci.tar");
        TestArchives.WriteOci(tar, [BaseLayer()], gzip: false);
        string gz = _temp.Combine("oci.tar.gz");
        System.IO.File.WriteAllBytes(gz, TestArchives.Gzip(System.IO.File.ReadAllBytes(tar)));

        ImageInfo image = await _store.ImportAsync(gz, "gz");

        Assert.True(System.IO.File.Exists(Path.Combine(_store.RootfsPath(image), "opt/app/sub/deep.txt")));
    }

    [Fact]
    public async Task OciLayout_BlobNotMatchingItsDigest_IsRefusedAndLeavesNothing()
    {
        string archive = _temp.Combine("oci.tar");
        byte[] layer = BaseLayer();
        string layerDigest = TestArchives.Sha256(layer);
        TestArchives.WriteOci(archive, [layer], gzip: false, tamper: (digest, data) =>
        {
            if (digest != layerDigest)
            {
                return data;
            }

            byte[] copy = (byte[])data.Clone();
            copy[600] ^= 0xFF; // inside the first file's content
            return copy;
        });

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "bad"));

        Assert.Contains("does not match its digest", error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Fact]
    public async Task OciLayout_DescriptorSizeDisagreeingWithBlob_IsRefused()
    {
        string archive = _temp.Combine("oci.tar");
        string configDigest = TestArchives.Sha256(System.Text.Encoding.UTF8.GetBytes(TestArchives.Config));

        // Same bytes under the same name, but one extra byte appended: the digest check fires first, proving every blob is hashed.
        TestArchives.WriteOci(archive, [BaseLayer()], tamper: (digest, data) => digest == configDigest ? [.. data, (byte)' '] : data);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "bad"));

        Assert.Contains(configDigest, error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Theory]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("../escape", "'..'")]
    [InlineData("etc/../../escape", "'..'")]
    public async Task HostilePaths_AreRefusedAndLeaveNothing(string name, string expected)
    {
        string archive = _temp.Combine("hostile.tar");
        TestArchives.WriteDockerSave(archive, [Layer(Dir("etc/"), File(name, "pwned"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "hostile"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.False(System.IO.File.Exists(Path.Combine(_temp.Path, "escape")));
        AssertStoreEmpty();
    }

    [Fact]
    public async Task SymlinkToOutsideThenWriteThroughIt_IsRefusedAndTheTargetIsUntouched()
    {
        string outside = _temp.Combine("outside");
        Directory.CreateDirectory(outside);
        string archive = _temp.Combine("hostile.tar");
        TestArchives.WriteDockerSave(archive, [Layer(Symlink("link", outside)), Layer(File("link/passwd", "pwned"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "hostile"));

        Assert.Contains("symbolic link 'link'", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        AssertStoreEmpty();
    }

    [Fact]
    public async Task HardLinkToAFileOutsideTheRoot_IsRefused()
    {
        string archive = _temp.Combine("hostile.tar");
        TestArchives.WriteDockerSave(archive, [Layer(HardLink("shadow", "../../../../etc/shadow"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "hostile"));

        Assert.Contains("'..'", error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Fact]
    public async Task SymlinkReplacedByFileInALaterLayer_WritesTheFileNotThroughTheLink()
    {
        string outside = _temp.Combine("outside.txt");
        System.IO.File.WriteAllText(outside, "original");
        string archive = _temp.Combine("replace.tar");
        TestArchives.WriteDockerSave(archive, [Layer(Symlink("target", outside)), Layer(File("target", "inside"))]);

        ImageInfo image = await _store.ImportAsync(archive, "replace");

        Assert.Equal("original", System.IO.File.ReadAllText(outside));
        Assert.Equal("inside", System.IO.File.ReadAllText(Path.Combine(_store.RootfsPath(image), "target")));
    }

    [Fact]
    public async Task TruncatedArchive_IsAClearErrorAndLeavesNothing()
    {
        string archive = _temp.Combine("full.tar");
        TestArchives.WriteDockerSave(archive, [BaseLayer(), UpperLayer()]);
        byte[] bytes = System.IO.File.ReadAllBytes(archive);
        string truncated = _temp.Combine("truncated.tar");
        System.IO.File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(truncated, "t"));

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Fact]
    public async Task TruncatedGzipLayer_IsAClearError()
    {
        byte[] layer = TestArchives.Gzip(Layer(File("big", new string('x', 100_000))));
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteDockerSave(archive, [layer[..(layer.Length / 2)]]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "t"));

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Fact]
    public async Task ZstdLayer_IsRefusedWithAnExplanation()
    {
        byte[] zstd = [0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0, 0];
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteOci(archive, [zstd], gzip: false);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "z"));

        Assert.Contains("zstd", error.Message, StringComparison.Ordinal);
        AssertStoreEmpty();
    }

    [Fact]
    public async Task ArchiveUnpackingPastTheLimit_IsRefused()
    {
        var store = ImageStore.Open(_temp.Combine("small-store"), limits: ImportLimits.Default with { MaxUnpackedBytes = 1000 });
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteDockerSave(archive, [Layer(File("a", new string('a', 600)), File("b", new string('b', 600)))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => store.ImportAsync(archive, "big"));

        Assert.Contains("1000 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(store.Root));
    }

    [Fact]
    public async Task ArchiveLargerThanTheLimit_IsRefusedBeforeReading()
    {
        var store = ImageStore.Open(_temp.Combine("small-store"), limits: ImportLimits.Default with { MaxArchiveBytes = 100 });
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteDockerSave(archive, [BaseLayer()]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => store.ImportAsync(archive, "big"));

        Assert.Contains("over the import limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceNodes_AreSkippedWithANote()
    {
        string archive = _temp.Combine("image.tar");
        TestArchives.WriteDockerSave(archive, [Layer(Dir("dev/"), new LayerEntry("dev/null", TarEntryType.CharacterDevice), File("dev/keep", "k"))]);
        var notes = new List<string>();

        ImageInfo image = await _store.ImportAsync(archive, "dev", new SynchronousProgress(p => notes.Add(p.Message)));

        Assert.False(Path.Exists(Path.Combine(_store.RootfsPath(image), "dev/null")));
        Assert.True(System.IO.File.Exists(Path.Combine(_store.RootfsPath(image), "dev/keep")));
        Assert.Contains(notes, n => n.Contains("dev/null", StringComparison.Ordinal) && n.Contains("skipped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NeitherDockerNorOci_IsAClearError()
    {
        string archive = _temp.Combine("plain.tar");
        TestArchives.WriteTar(archive, [("hello.txt", "hi"u8.ToArray())]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "p"));

        Assert.Contains("neither", error.Message, StringComparison.Ordinal);
    }

    private void AssertStoreEmpty() => Assert.Empty(Directory.EnumerateDirectories(_store.Root));

    /// <summary>Progress&lt;T&gt; posts to the thread pool; tests need the reports in hand when the call returns.</summary>
    private sealed class SynchronousProgress(Action<ImageProgress> report) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value) => report(value);
    }
}
