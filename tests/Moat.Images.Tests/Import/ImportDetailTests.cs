using System.Text;
using System.Text.Json.Nodes;
using Moat.Images.Store;
using static Moat.Images.Tests.Import.LayerEntry;
using static Moat.Images.Tests.Import.TestArchives;

namespace Moat.Images.Tests.Import;

public sealed class ImportDetailTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly ImageStore _store;

    public ImportDetailTests()
    {
        _store = ImageStore.Open(_temp.Combine("store"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task LegacyDockerSave_WithALayerSymlinkedToAnIdenticalOne_IsImported()
    {
        byte[] layer = Layer(File("same", "s"));
        byte[] config = Encoding.UTF8.GetBytes(WithDiffIds(Config, [layer, layer]));
        string configName = Sha256(config) + ".json";
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray("legacy:1"),
            ["Layers"] = new JsonArray("aaa/layer.tar", "bbb/layer.tar"),
        });
        string archive = _temp.Combine("legacy.tar");
        WriteTar(
            archive,
            [(configName, config), ("aaa/layer.tar", layer), ("manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()))],
            [("bbb/layer.tar", "../aaa/layer.tar")]);

        ImageInfo image = await _store.ImportAsync(archive, tag: null);

        Assert.Equal(["legacy:1"], image.Tags);
        Assert.Equal("s", await System.IO.File.ReadAllTextAsync(Path.Combine(_store.RootfsPath(image), "same")));
    }

    [Fact]
    public async Task LayerMissingFromTheArchive_IsAClearError()
    {
        var manifest = new JsonArray(new JsonObject { ["Config"] = "c.json", ["Layers"] = new JsonArray("missing/layer.tar") });
        string archive = _temp.Combine("missing.tar");
        WriteTar(archive, [("c.json", "{}"u8.ToArray()), ("manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()))]);

        var error = await Assert.ThrowsAsync<ImageArchiveException>(() => _store.ImportAsync(archive, "m"));

        Assert.Contains("'missing/layer.tar', which it does not contain", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task CancelledImport_LeavesNothing()
    {
        string archive = _temp.Combine("image.tar");
        WriteDockerSave(archive, [Layer(File("a", "a")), Layer(File("b", "b"))]);
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(p =>
        {
            if (p.Stage == "layer")
            {
                cancellation.Cancel();
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.ImportAsync(archive, "c", progress, cancellation.Token));

        Assert.Empty(Directory.EnumerateDirectories(_store.Root));
    }

    [Fact]
    public async Task OpaqueDirectory_KeepsWhatTheSameLayerAddsEvenWhenTheMarkerComesLast()
    {
        string archive = _temp.Combine("image.tar");
        WriteDockerSave(archive, [
            Layer(Dir("d/"), File("d/lower", "l"), Dir("d/sub/"), File("d/sub/lower2", "l")),
            Layer(Dir("d/"), Dir("d/sub/"), File("d/sub/upper", "u"), new LayerEntry("d/.wh..wh..opq"))]);

        ImageInfo image = await _store.ImportAsync(archive, "opaque");

        string d = Path.Combine(_store.RootfsPath(image), "d");
        Assert.Equal(["d/sub", "d/sub/upper"], Directory.EnumerateFileSystemEntries(d, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Path.GetDirectoryName(d)!, p)).Order(StringComparer.Ordinal));
    }

    private sealed class SynchronousProgress(Action<ImageProgress> report) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value) => report(value);
    }
}
