using System.Net;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Lab;
using Moat.Xmpp.Bytestreams;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// Relocations driven only over the XMPP fabric: each lab host's agent is on a real Prosody as host-a@…, host-b@…, the
/// coordinator is another account that administers them, and a sandbox's state travels host → coordinator → host as
/// in-band bytestreams. The client still reaches the service only through the VIP on the front.
/// </summary>
public sealed class FabricRelocationTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Sandbox_moves_from_A_to_B_over_the_fabric_while_a_client_keeps_using_the_VIP()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        await using var coordinator = await lab.ConnectCoordinatorAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        using var http = lab.ClientHttp(RequestTimeout);
        Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));

        using var stop = new CancellationTokenSource();
        var client = Task.Run(async () =>
        {
            var served = 0;
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));
                served++;
            }

            return served;
        });

        var report = await new RelocationCoordinator().RelocateAsync("web", a.OnFabric(coordinator), b.OnFabric(coordinator), web.Binding);
        await stop.CancelAsync();
        var served = await client;

        Assert.True(report.Succeeded, report.Failure);
        Assert.Equal(a.Jid, report.From);
        Assert.Equal(b.Jid, report.To);
        Assert.Equal(MigrationMode.Cold, report.Mode);
        Assert.True(report.BytesMoved > 256 * 1024, $"{report.BytesMoved} bytes moved"); // the blob alone is 256 KiB
        Assert.True(served > 0);

        // B's copy (seen by B's own agent) runs with the volume and the upper layer, and the VIP leads to it.
        var moved = Assert.Single(b.Sandboxes.List());
        Assert.Equal("web", moved.Name);
        Assert.Equal(SandboxState.Running, moved.State);
        Assert.Equal(IPAddress.Parse(moved.Address!), front.Current(web.Vip));
        Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));
        var check = await b.Sandboxes.ExecAsync(moved.Id, ["sh", "-c", "cat /etc/moved-marker; test -e /bin/vi && echo vi-present || echo vi-gone; md5sum /data/blob"], null, TimeSpan.FromSeconds(10));
        Assert.Equal(0, check.ExitCode);
        Assert.Equal($"{web.Marker}\nvi-gone\n{web.BlobMd5}  /data/blob\n", check.Stdout);

        Assert.Empty(a.Sandboxes.List());
        Assert.False(File.Exists(Path.Combine(a.Options.StateDir, "disks", report.SourceId + ".ext4"))); // its disk (and the volume on it)

        // Nothing of the move is left waiting on either side of the fabric.
        Assert.Equal(0, coordinator.Inbox.Count);

        // The administrator also reads each host's alerts over the fabric (what --on-alert acts on); a bad limit is refused.
        Assert.NotNull((await b.OnFabric(coordinator).AlertsAsync(10)).Exec);
        var refused = await Assert.ThrowsAsync<RelocationHostException>(() => b.OnFabric(coordinator).AlertsAsync(0));
        Assert.True(refused.Refused);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_transfer_that_breaks_half_way_over_the_fabric_is_rolled_back_on_both_hosts()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        await using var coordinator = await lab.ConnectCoordinatorAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");

        // The coordinator's copy of the stream fails after 16 KiB: B's import sees the stream aborted, not a short archive.
        var report = await new RelocationCoordinator().RelocateAsync("web", new FaultyHost(a.OnFabric(coordinator)) { BreakExportAfter = 16 * 1024 }, b.OnFabric(coordinator), web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains("could not import state", report.Failure, StringComparison.Ordinal);
        Assert.Empty(b.Sandboxes.List());
        await web.AssertServedFromAsync(lab, a, before);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_destination_that_leaves_the_fabric_mid_migration_leaves_the_sandbox_running_on_the_source()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        await using var coordinator = await lab.ConnectCoordinatorAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        var relocation = RelocationTests.LosingDestinationAfterTheStop(b);

        var report = await relocation.RelocateAsync("web", a.OnFabric(coordinator), b.OnFabric(coordinator), web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains(b.Jid!, report.Failure, StringComparison.Ordinal);
        await web.AssertServedFromAsync(lab, a, before);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Someone_who_is_not_an_administrator_can_neither_move_sandboxes_nor_push_state()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        var a = lab.Hosts[0];
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        var server = lab.Fabric!;
        server.AddAccount("mallory", "mallory-password");
        await using var mallory = await FabricClient.OpenAsync("mallory@" + server.Domain, $"{server.Address}:{server.Port}", "mallory-password");

        foreach (var (op, body) in new (string, object?)[]
                 {
                     ("host", null),
                     ("alerts", new FabricProtocol.AlertsBody(10)),
                     ("export", new FabricProtocol.TransferBody("steal1")),
                     ("import", new FabricProtocol.TransferBody("plant1")),
                     ("reserve", new SandboxManifest(before.Spec, before.ImageDigest, before.Tier, before.Id)),
                 })
        {
            var refused = await Assert.ThrowsAsync<FabricCallException>(() => mallory.CallAsync<object>(a.Jid!, op, op is "export" or "import" ? "web" : null, body));
            Assert.Equal("forbidden", refused.Condition);
        }

        // A stream nobody asked for is refused at its open; no byte of it is taken.
        var pushed = await Assert.ThrowsAsync<IbbException>(() =>
            InBandBytestream.SendAsync(mallory.Xmpp, mallory.FullJid(a.Jid!), "plant2", new MemoryStream(new byte[4096])));
        Assert.Equal("not-acceptable", pushed.Condition);

        Assert.Empty(lab.Hosts[1].Sandboxes.List());
        await web.AssertServedFromAsync(lab, a, before);
    }
}
