using System.Formats.Tar;
using System.Text;
using Moat.Host.Rootfs;

namespace Moat.Host.Tests.Rootfs;

/// <summary>
/// A sandbox's upper layer is archived while the sandbox may still run: what the tenant links or swaps in must be
/// archived as what it is (a link), never followed onto the host.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class UpperLayerHostileTests : IDisposable
{
    private const string Secret = "HOST SECRET that only the host may read";

    private readonly string _upper = Directory.CreateTempSubdirectory("mth-upper-").FullName;
    private readonly string _host = Directory.CreateTempSubdirectory("mth-hostdir-").FullName;
    private readonly string _out = Directory.CreateTempSubdirectory("mth-evidence-").FullName;

    [Fact]
    public async Task ArchiveAsync_SymlinksToHostFilesAndFolders_AreArchivedAsLinksNotFollowed()
    {
        File.WriteAllText(Path.Combine(_host, "secret"), Secret);
        File.CreateSymbolicLink(Path.Combine(_upper, "file-link"), Path.Combine(_host, "secret"));
        File.CreateSymbolicLink(Path.Combine(_upper, "dir-link"), _host);
        File.CreateSymbolicLink(Path.Combine(_upper, "climb"), "../../../../../../.." + _host);
        string tar = Path.Combine(_out, "changes.tar");

        await UpperLayer.ArchiveAsync(_upper, tar);

        var entries = await ReadAsync(tar);
        Assert.DoesNotContain(entries, e => e.Data.Contains(Secret, StringComparison.Ordinal));
        Assert.Equal(["climb", "dir-link", "file-link"], entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.All(entries, e => Assert.Equal(TarEntryType.SymbolicLink, e.Type));
    }

    [Fact]
    public async Task ArchiveAsync_TenantSwapsAFolderForASymlinkMidWalk_NeverArchivesHostFiles()
    {
        // The host folder holds a file named like the tenant's, and one more: either leaking shows in the archive.
        File.WriteAllText(Path.Combine(_host, "x"), Secret);
        File.WriteAllText(Path.Combine(_host, "host-only"), Secret);
        string d = Path.Combine(_upper, "d");
        string real = Path.Combine(_upper, "d.real");
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "x"), "tenant data");
        for (int i = 0; i < 200; i++)
        {
            File.WriteAllText(Path.Combine(_upper, $"f{i:D3}"), "tenant data");
        }

        using var stop = new CancellationTokenSource();
        var swapper = Task.Factory.StartNew(() => Swap(d, real, _host, stop.Token), TaskCreationOptions.LongRunning);
        try
        {
            for (int round = 0; round < 200; round++)
            {
                string tar = Path.Combine(_out, $"changes-{round}.tar");
                await UpperLayer.ArchiveAsync(_upper, tar);
                var entries = await ReadAsync(tar);
                File.Delete(tar);
                Assert.DoesNotContain(entries, e => e.Data.Contains(Secret, StringComparison.Ordinal));
                Assert.DoesNotContain(entries, e => e.Name.EndsWith("host-only", StringComparison.Ordinal));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await swapper;
        }
    }

    [Fact]
    public async Task ChangesAsync_DotFiles_KeepTheirNamesSoAHiddenFileIsNotReportedAsAnother()
    {
        Directory.CreateDirectory(Path.Combine(_upper, ".etc"));
        File.WriteAllText(Path.Combine(_upper, ".etc", "passwd"), "hidden");
        File.WriteAllText(Path.Combine(_upper, "..x"), "hidden");
        string tar = Path.Combine(_out, "changes.tar");
        await UpperLayer.ArchiveAsync(_upper, tar);

        var changes = await UpperLayer.ChangesAsync(tar, imageRootfs: null);

        Assert.Equal(["/..x", "/.etc", "/.etc/passwd"], changes.Select(c => c.Path));
    }

    public void Dispose()
    {
        Directory.Delete(_upper, recursive: true);
        Directory.Delete(_host, recursive: true);
        Directory.Delete(_out, recursive: true);
    }

    /// <summary>What a tenant with write access to its own root can do as fast as it can: folder out, symlink in, and back.</summary>
    private static void Swap(string d, string real, string host, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Directory.Move(d, real);
            File.CreateSymbolicLink(d, host);
            File.Delete(d);
            Directory.Move(real, d);
        }
    }

    private static async Task<List<(string Name, TarEntryType Type, string Data)>> ReadAsync(string tar)
    {
        var entries = new List<(string, TarEntryType, string)>();
        await using var stream = File.OpenRead(tar);
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
        {
            string data = entry.DataStream is { } s ? await new StreamReader(s, Encoding.UTF8).ReadToEndAsync() : "";
            entries.Add((entry.Name.TrimStart('.', '/').TrimEnd('/'), entry.EntryType, data));
        }

        return entries;
    }
}
