using Moat.Images.Store;

namespace Moat.Images.Tests.Store;

public sealed class ImageStoreTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImageStoreTests()
    {
        _store = ImageStore.Open(_temp.Combine("images"));
    }

    public void Dispose() => _temp.Dispose();

    private Task<ImageInfo> AddAsync(string? tag, string content) => _store.BuildAsync(
        tag,
        (rootfs, _) =>
        {
            File.WriteAllText(Path.Combine(rootfs, "content"), content);
            return Task.CompletedTask;
        },
        "test",
        ImageConfig.Default,
        progress: null,
        CancellationToken.None);

    [Fact]
    public async Task Open_RemovesTempFoldersACrashLeftBehind()
    {
        string leftover = Path.Combine(_store.Root, ImageStore.TempPrefix + "crashed", "rootfs", "etc");
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(leftover, "half-written"), "x");
        ImageInfo kept = await AddAsync("kept", "1");

        ImageStore reopened = ImageStore.Open(_store.Root);

        Assert.Equal([kept.Digest], Directory.EnumerateDirectories(reopened.Root).Select(Path.GetFileName));
        Assert.Equal(kept.Digest, reopened.Get("kept").Digest);
    }

    [Fact]
    public async Task Commit_StoresRootfsAndMetadataUnderTheDigest()
    {
        ImageInfo image = await AddAsync("one", "1");

        Assert.Equal(Path.Combine(_store.Root, image.Digest, "rootfs"), _store.RootfsPath(image));
        Assert.Equal("1", File.ReadAllText(Path.Combine(_store.RootfsPath(image), "content")));
        Assert.True(File.Exists(Path.Combine(_store.Root, image.Digest, "image.json")));
        ImageInfo reread = _store.Get("one");
        Assert.Equal((image.Digest, image.Created, image.Size, image.FileCount, image.Source), (reread.Digest, reread.Created, reread.Size, reread.FileCount, reread.Source));
        Assert.Equal(["one"], reread.Tags);
        Assert.True(await _store.VerifyAsync(image));
        Assert.Equal(PackageManager.None, image.PackageManager);
    }

    [Fact]
    public async Task SameContentTwice_IsOneImageWithBothTags()
    {
        ImageInfo first = await AddAsync("a", "same");
        ImageInfo second = await AddAsync("b", "same");

        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(["a", "b"], _store.Get(first.Digest).Tags);
        Assert.Single(_store.List());
    }

    [Fact]
    public async Task Tag_MovesTheTagOffTheImageThatHadIt()
    {
        ImageInfo one = await AddAsync("stable", "1");
        ImageInfo two = await AddAsync("next", "2");

        _store.Tag(two.ShortDigest, "stable");

        Assert.Empty(_store.Get(one.Digest).Tags);
        Assert.Equal(["next", "stable"], _store.Get("stable").Tags);
        Assert.Equal(two.Digest, _store.Get("stable").Digest);
    }

    [Fact]
    public async Task Resolve_ByTagOrUniqueDigestPrefix()
    {
        ImageInfo image = await AddAsync("busybox", "1");

        Assert.Equal(image.Digest, _store.Resolve("busybox")?.Digest);
        Assert.Equal(image.Digest, _store.Resolve(image.Digest[..5])?.Digest);
        Assert.Equal(image.Digest, _store.Resolve("sha256:" + image.Digest)?.Digest);
        Assert.Null(_store.Resolve("debian"));
    }

    [Fact]
    public async Task Resolve_AmbiguousPrefix_ListsTheCandidates()
    {
        var images = new List<ImageInfo>();
        for (int i = 0; i < 40; i++)
        {
            images.Add(await AddAsync(null, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        // 40 digests over 16 first hex digits: at least two share their first digit.
        var pair = images.GroupBy(i => i.Digest[0]).First(g => g.Count() > 1).ToList();

        var error = Assert.Throws<ImageNotFoundException>(() => _store.Resolve(pair[0].Digest[..1]));

        Assert.Contains("ambiguous", error.Message, StringComparison.Ordinal);
        Assert.Contains(pair[0].Digest, error.Message, StringComparison.Ordinal);
        Assert.Contains(pair[1].Digest, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_UnknownName_ListsWhatExists()
    {
        ImageInfo image = await AddAsync("busybox", "1");

        var error = Assert.Throws<ImageNotFoundException>(() => _store.Get("debian"));

        Assert.Contains("'debian'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"busybox ({image.ShortDigest})", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_RefusedWhileInUse_ThenRemoves()
    {
        ImageInfo image = await AddAsync("busybox", "1");

        await Assert.ThrowsAsync<ImageInUseException>(() => _store.RemoveAsync("busybox", i => i.Digest == image.Digest));
        Assert.NotNull(_store.Resolve("busybox"));

        await _store.RemoveAsync("busybox", _ => false);

        Assert.Null(_store.Resolve("busybox"));
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Busybox")]
    [InlineData("-x")]
    [InlineData("0123456789abcdef")]
    public void InvalidTags_AreRefusedWithTheRule(string tag)
    {
        var error = Assert.ThrowsAny<Exception>(() => ImageStore.ValidateTag(tag));

        Assert.Contains("is not valid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OverlayUsage_FindsALowerDirInMountinfo()
    {
        string mountinfo = _temp.Combine("mountinfo");
        File.WriteAllText(mountinfo, """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            95 22 0:50 / /run/sb/1/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/moat/images/abc/rootfs,upperdir=/run/sb/1/upper,workdir=/run/sb/1/work

            """);

        Assert.True(OverlayUsage.IsMountedLower("/var/lib/moat/images/abc/rootfs", mountinfo));
        Assert.False(OverlayUsage.IsMountedLower("/var/lib/moat/images/abd/rootfs", mountinfo));
    }
}
