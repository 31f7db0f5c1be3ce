using Moat.Images.Store;
using Moat.Images.Tests.Import;
using static Moat.Images.Tests.Import.LayerEntry;
using static Moat.Images.Tests.Import.TestArchives;

namespace Moat.Images.Tests.Integration;

/// <summary>Keeping the archive's owners needs root (lchown), so this runs with the integration tests.</summary>
[Trait("Category", "Integration")]
public sealed class ImportOwnersTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImportOwnersTests()
    {
        _store = ImageStore.Open(_temp.Combine("store"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task OwnersFromTheArchive_AreKeptWhenRunningAsRoot()
    {
        string archive = _temp.Combine("image.tar");
        WriteDockerSave(archive, [Layer(
            new LayerEntry("home/", System.Formats.Tar.TarEntryType.Directory, Uid: 1000, Gid: 1000),
            File("home/notes", "n") with { Uid = 1000, Gid = 100 },
            Symlink("home/link", "notes") with { Uid = 1000, Gid = 1000 })]);

        ImageInfo image = await _store.ImportAsync(archive, "owners");

        string root = _store.RootfsPath(image);
        Assert.Equal((1000u, 1000u), Owner(Path.Combine(root, "home")));
        Assert.Equal((1000u, 100u), Owner(Path.Combine(root, "home/notes")));
        Assert.Equal((1000u, 1000u), Owner(Path.Combine(root, "home/link")));
    }

    private static (uint Uid, uint Gid) Owner(string path)
    {
        var stat = Interop.Libc.LStat(path)!.Value;
        return (stat.Uid, stat.Gid);
    }
}
