using System.Formats.Tar;
using System.Text;
using System.Text.Json.Nodes;
using Moat.Images.Import;
using Moat.Images.Store;
using static Moat.Images.Tests.Import.LayerEntry;
using static Moat.Images.Tests.Import.TestArchives;

namespace Moat.Images.Tests.Import;

/// <summary>
/// Archives written by a hostile image publisher (issue 14): whatever a layer holds, nothing outside the root file
/// system being built is written, deleted, chmod-ed or linked, and the store keeps every image it already had.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class HostileImportTests : IDisposable
{
    private const UnixFileMode Mode755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode Mode777 = Mode755 | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public HostileImportTests()
    {
        _store = ImageStore.Open(_temp.Combine("store"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task OpaqueMarkerAndDirectoryMode_UnderADirectoryReplacedByASymlinkLaterInTheLayer_TouchNothingOutside()
    {
        // The reproduction of issue 14 item 1, aimed at a folder the test owns instead of the host's /.
        string victim = _temp.Combine("victim");
        Directory.CreateDirectory(Path.Combine(victim, "etc"));
        System.IO.File.WriteAllText(Path.Combine(victim, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
        System.IO.File.SetUnixFileMode(Path.Combine(victim, "etc"), Mode755);
        string archive = _temp.Combine("opaque.tar");
        WriteDockerSave(archive, [Layer(
            Dir("a/"),
            new LayerEntry("a/etc/", TarEntryType.Directory, Mode: Mode777),
            new LayerEntry("a/etc/.wh..wh..opq"),
            Symlink("a", victim))]);

        ImageInfo image = await _store.ImportAsync(archive, "opaque");

        Assert.Equal("root:x:0:0::/root:/bin/sh\n", System.IO.File.ReadAllText(Path.Combine(victim, "etc", "passwd")));
        Assert.Equal(Mode755, System.IO.File.GetUnixFileMode(Path.Combine(victim, "etc")));
        Assert.Equal(victim, new FileInfo(Path.Combine(_store.RootfsPath(image), "a")).LinkTarget);
    }

    [Fact]
    public async Task DeferredDirectoryMode_OfADirectoryReplacedByASymlinkToAFile_DoesNotChmodTheFile()
    {
        // The directory's setuid, world-writable mode must never land on a host file the symlink names.
        string victim = _temp.Combine("victim.bin");
        System.IO.File.WriteAllText(victim, "binary");
        System.IO.File.SetUnixFileMode(victim, Mode755);
        string archive = _temp.Combine("chmod.tar");
        WriteDockerSave(archive, [Layer(
            new LayerEntry("b/", TarEntryType.Directory, Mode: Mode777 | UnixFileMode.SetUser),
            Symlink("b", victim))]);

        await _store.ImportAsync(archive, "chmod");

        Assert.Equal(Mode755, System.IO.File.GetUnixFileMode(victim));
    }

    [Fact]
    public async Task FailedHostileImport_AimedAtAStoredImage_LosesNothingOfIt()
    {
        string good = _temp.Combine("good.tar");
        WriteDockerSave(good, [Layer(Dir("etc/"), File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), File("etc/motd", "hi\n"))]);
        ImageInfo stored = await _store.ImportAsync(good, "good");
        string storedRoot = _store.RootfsPath(stored);
        string hostile = _temp.Combine("hostile.tar");
        WriteDockerSave(hostile, [Layer(
            Dir("a/"), Dir("a/etc/"), new LayerEntry("a/etc/.wh..wh..opq"), Symlink("a", storedRoot), File("z", "then fail")),
            Layer(HardLink("y", "missing"))]);

        await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(hostile, "hostile"));

        Assert.True(await _store.VerifyAsync(stored), "the stored image's tree must be unchanged");
        Assert.Equal([stored.Digest], _store.List().Select(i => i.Digest));
        Assert.Equal([stored.Digest], Directory.EnumerateDirectories(_store.Root).Select(Path.GetFileName));
    }

    [Fact]
    public async Task HardLinkThroughASymlinkFromAnEarlierLayer_IsRefused()
    {
        string outside = _temp.Combine("outside");
        Directory.CreateDirectory(outside);
        System.IO.File.WriteAllText(Path.Combine(outside, "secret"), "s");
        string archive = _temp.Combine("link.tar");
        WriteDockerSave(archive, [Layer(Symlink("l", outside)), Layer(HardLink("stolen", "l/secret"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "link"));

        Assert.Contains("symbolic link 'l'", error.Message, StringComparison.Ordinal);
        Assert.Equal(1u, Interop.Libc.LStat(Path.Combine(outside, "secret"))!.Value.LinkCount);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Theory]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("../../../../etc/passwd", "'..'")]
    [InlineData(".", "not a file already in the image")]
    [InlineData("dir", "not a file already in the image")]
    public async Task HardLinkToSomethingNotAFileInTheImage_IsRefused(string target, string expected)
    {
        string archive = _temp.Combine("link.tar");
        WriteDockerSave(archive, [Layer(Dir("dir/"), HardLink("x", target))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "link"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task FileOverwritingAHardLink_GetsANewInodeAndLeavesTheLinkedFileAlone()
    {
        string archive = _temp.Combine("overwrite.tar");
        WriteDockerSave(archive, [Layer(File("orig", "A"), HardLink("copy", "orig")), Layer(File("copy", "B"))]);

        ImageInfo image = await _store.ImportAsync(archive, "overwrite");

        string root = _store.RootfsPath(image);
        Assert.Equal("A", System.IO.File.ReadAllText(Path.Combine(root, "orig")));
        Assert.Equal("B", System.IO.File.ReadAllText(Path.Combine(root, "copy")));
        Assert.Equal(1u, Interop.Libc.LStat(Path.Combine(root, "orig"))!.Value.LinkCount);
    }

    [Theory]
    [InlineData(".wh...")]
    [InlineData(".wh..")]
    [InlineData(".wh.")]
    [InlineData("keep/.wh...")]
    public async Task WhiteoutNamingNoFile_IsRefusedAndDeletesNothing(string name)
    {
        string archive = _temp.Combine("whiteout.tar");
        WriteDockerSave(archive, [Layer(Dir("keep/"), File("keep/file", "k")), Layer(new LayerEntry(name))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "wh"));

        Assert.Contains("whiteout", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Theory]
    [InlineData(256, 1, "255")]
    [InlineData(200, 21, "4096")]
    public async Task NamesPastTheKernelLimits_AreRefusedWithTheLimit(int partLength, int parts, string expected)
    {
        string name = string.Join('/', Enumerable.Range(0, parts).Select(i => new string((char)('a' + (i % 26)), partLength)));
        string archive = _temp.Combine("long.tar");
        WriteDockerSave(archive, [Layer(File(name, "x"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "long"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public void NameWithANul_IsRefused()
    {
        var error = Assert.Throws<ImageArchiveException>(() => LayerApplier.Normalize("etc/pass\0wd", "1"));

        Assert.Contains("NUL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LayerWhoseHeadersExpandPastTheLimit_IsRefused()
    {
        // No file content at all: the bytes are in PAX headers, which a per-file count never sees.
        var store = ImageStore.Open(_temp.Combine("small-store"), limits: ImportLimits.Default with { MaxUnpackedBytes = 1 << 20 });
        string archive = _temp.Combine("bomb.tar");
        using (var buffer = new MemoryStream())
        {
            using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
            {
                for (int i = 0; i < 8; i++)
                {
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"d{i}/", new Dictionary<string, string> { ["moat.pad"] = new('x', 512 << 10) }));
                }
            }

            WriteDockerSave(archive, [Gzip(buffer.ToArray())]);
        }

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => store.ImportAsync(archive, "bomb"));

        Assert.Contains("1048576 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(store.Root));
    }

    [Fact]
    public async Task FileClaimingASizePastTheLimit_IsRefusedBeforeItIsWritten()
    {
        var store = ImageStore.Open(_temp.Combine("small-store"), limits: ImportLimits.Default with { MaxUnpackedBytes = 4096 });
        string archive = _temp.Combine("sparse.tar");
        WriteDockerSave(archive, [Gzip(Layer(File("huge", new string('\0', 1 << 20))))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => store.ImportAsync(archive, "huge"));

        Assert.Contains("4096 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(store.Root));
    }

    [Fact]
    public async Task DockerSaveLayerNotMatchingItsDiffId_IsRefused()
    {
        byte[] layer = Layer(File("a", "a"));
        string wrong = Sha256(Layer(File("a", "b")));
        string config = $$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:{{{wrong}}}"]}}""";
        string archive = _temp.Combine("diffid.tar");
        WriteDockerSave(archive, [layer], config: config);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "diffid"));

        Assert.Contains(wrong, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task OciBlobThatIsALinkToOtherContent_IsRefused()
    {
        // blobs/sha256/<digest of a harmless layer> is a symlink to a different, unverified layer tar.
        byte[] harmless = Layer(File("ok", "ok"));
        byte[] evil = Layer(File("evil", "evil"));
        string oci = _temp.Combine("oci.tar");
        WriteOci(oci, [harmless], gzip: false);
        string layerBlob = $"blobs/sha256/{Sha256(harmless)}";
        var files = new List<(string, byte[])>();
        using (var reader = new TarReader(System.IO.File.OpenRead(oci)))
        {
            while (reader.GetNextEntry(copyData: true) is { } entry)
            {
                if (entry.Name != layerBlob)
                {
                    using var data = new MemoryStream();
                    entry.DataStream!.CopyTo(data);
                    files.Add((entry.Name, data.ToArray()));
                }
            }
        }

        files.Add(("evil.tar", evil));
        string archive = _temp.Combine("linked.tar");
        WriteTar(archive, files, [(layerBlob, "../../evil.tar")]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "linked"));

        Assert.Contains("does not match its digest", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Theory]
    [InlineData("sha256:../../../etc/passwd")]
    [InlineData("sha256:../../index.json")]
    [InlineData("sha512:00")]
    [InlineData("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task OciDescriptorWithAHostileDigest_IsRefused(string digest)
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject { ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = digest, ["size"] = 2 }),
        };
        string archive = _temp.Combine("digest.tar");
        WriteTar(archive, [("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()), ("index.json", Encoding.UTF8.GetBytes(index.ToJsonString()))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "digest"));

        Assert.Contains("is not a sha256 digest", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Theory]
    [InlineData("""[{"Config":"../../../etc/passwd","Layers":[]}]""", "'..'")]
    [InlineData("""[{"Config":"/etc/passwd","Layers":[]}]""", "absolute path")]
    [InlineData("""[{"Config":"c.json","Layers":["/etc/shadow"]}]""", "absolute path")]
    [InlineData("""[{"Config":"c.json","Layers":[7]}]""", "not a path")]
    [InlineData("""[{"Config":7,"Layers":[]}]""", "'Config'")]
    [InlineData("""{"Config":"c.json"}""", "non-empty array")]
    [InlineData("""[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]""", "not valid JSON")]
    public async Task DockerManifestHostile_IsAClearError(string manifest, string expected)
    {
        string archive = _temp.Combine("manifest.tar");
        WriteTar(archive, [("c.json", "{}"u8.ToArray()), ("manifest.json", Encoding.UTF8.GetBytes(manifest))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "m"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task EnormousManifest_IsRefusedBeforeParsing()
    {
        var store = ImageStore.Open(_temp.Combine("small-store"), limits: ImportLimits.Default with { MaxMetadataBytes = 1024 });
        string archive = _temp.Combine("enormous.tar");
        WriteTar(archive, [("manifest.json", Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Repeat("{}", 2000)) + "]"))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => store.ImportAsync(archive, "m"));

        Assert.Contains("1024-byte limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LayerListedMoreTimesThanAnImageMayHaveLayers_IsRefused()
    {
        byte[] layer = Layer(File("a", "a"));
        string archive = _temp.Combine("repeat.tar");
        WriteDockerSave(archive, [.. Enumerable.Repeat(layer, ImportLimits.Default.MaxLayers + 1)]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "repeat"));

        Assert.Contains($"{ImportLimits.Default.MaxLayers} layers", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task PackageManagerDetection_FollowsTheImagesSymlinksInsideTheImageNotOnTheHost()
    {
        // var -> <a host folder holding a dpkg database>: the host's database must not make the image "dpkg".
        string hostVar = _temp.Combine("hostvar");
        Directory.CreateDirectory(Path.Combine(hostVar, "lib", "dpkg"));
        System.IO.File.WriteAllText(Path.Combine(hostVar, "lib", "dpkg", "status"), "Package: host\n");
        string leaky = _temp.Combine("leaky.tar");
        WriteDockerSave(leaky, [Layer(Symlink("var", hostVar))]);

        // lib -> /usr/lib (merged /usr, as Alpine or Debian lay it out) resolves inside the image.
        string merged = _temp.Combine("merged.tar");
        WriteDockerSave(merged, [Layer(Dir("usr/"), Dir("usr/lib/"), Dir("usr/lib/apk/"), Dir("usr/lib/apk/db/"), File("usr/lib/apk/db/installed", "P:musl\n"), Symlink("lib", "/usr/lib"))]);

        ImageInfo fromLeaky = await _store.ImportAsync(leaky, "leaky");
        ImageInfo fromMerged = await _store.ImportAsync(merged, "merged");

        Assert.Equal(PackageManager.None, fromLeaky.PackageManager);
        Assert.Equal(PackageManager.Apk, fromMerged.PackageManager);
    }
}
