using Moat.Images.Store;

namespace Moat.Images.Tests.Store;

/// <summary>
/// An image built or imported by the CLI before any agent ran must not sit where local users can reach it: a hostile
/// image's setuid-root binaries are only harmless while nobody but root can walk to them.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ImageStoreModeHostileTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Open_NewStore_IsCreatedPrivate()
    {
        string root = _temp.Combine("state", "images");

        ImageStore store = ImageStore.Open(root);

        Assert.Equal(Private, File.GetUnixFileMode(store.Root));
    }

    [Fact]
    public async Task Open_ExistingOpenStore_IsTightenedAndKeepsItsImages()
    {
        string root = _temp.Combine("images");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, Private | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        ImageInfo kept = await ImageStore.Open(root).BuildAsync(
            "kept",
            (rootfs, _) =>
            {
                File.WriteAllText(Path.Combine(rootfs, "content"), "1");
                return Task.CompletedTask;
            },
            "test",
            ImageConfig.Default,
            progress: null,
            CancellationToken.None);
        File.SetUnixFileMode(root, Private | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        ImageStore reopened = ImageStore.Open(root);

        Assert.Equal(Private, File.GetUnixFileMode(reopened.Root));
        Assert.Equal(kept.Digest, reopened.Get("kept").Digest);
    }
}
