using System.Formats.Tar;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// A compromised source host sends, in place of a sandbox's state, an archive whose /data is a link to a folder of the
/// destination host (issue 14, item 3). The destination refuses it, over the agent API and over the fabric alike; the
/// move is rolled back, the sandbox keeps running on the source, and the destination's folder is never written.
/// </summary>
[Trait("Category", "Hostile")]
[Trait("Category", "Integration")]
public sealed class HostileRelocationTests
{
    [Fact]
    public async Task A_destination_fed_a_hostile_archive_refuses_it_and_the_source_keeps_the_sandbox()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        var bait = Directory.CreateTempSubdirectory("moat-bait-").FullName;
        try
        {
            var report = await new RelocationCoordinator().RelocateAsync("web", new FaultyHost(a.Relocation) { ExportInstead = DataLinkedTo(bait) }, b.Relocation, web.Binding);

            AssertRefused(report, bait, b.Sandboxes.List());
            await web.AssertServedFromAsync(lab, a, before);
        }
        finally
        {
            Directory.Delete(bait, recursive: true);
        }
    }

    [Fact]
    public async Task A_destination_fed_a_hostile_archive_over_the_fabric_refuses_it_and_the_source_keeps_the_sandbox()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        await using var coordinator = await lab.ConnectCoordinatorAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        var bait = Directory.CreateTempSubdirectory("moat-bait-").FullName;
        try
        {
            var report = await new RelocationCoordinator().RelocateAsync(
                "web", new FaultyHost(a.OnFabric(coordinator)) { ExportInstead = DataLinkedTo(bait) }, b.OnFabric(coordinator), web.Binding);

            AssertRefused(report, bait, b.Sandboxes.List());
            await web.AssertServedFromAsync(lab, a, before);
        }
        finally
        {
            Directory.Delete(bait, recursive: true);
        }
    }

    private static void AssertRefused(RelocationReport report, string bait, IReadOnlyList<Moat.Host.Sandboxes.Sandbox> onDestination)
    {
        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains("could not import state", report.Failure, StringComparison.Ordinal);
        Assert.Contains("'data' must be a folder", report.Failure, StringComparison.Ordinal);
        Assert.Empty(onDestination);
        Assert.Empty(Directory.EnumerateFileSystemEntries(bait));
    }

    /// <summary>An empty upper layer and a /data that is a link to <paramref name="target"/> on the destination.</summary>
    private static byte[] DataLinkedTo(string target)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "upper") { Mode = (UnixFileMode)0x1ED });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "data") { LinkName = target });
        }

        return buffer.ToArray();
    }
}
