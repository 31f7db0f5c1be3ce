using System.Net;
using Moat.Host.Sandboxes;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// Live relocations of gvisor-tier sandboxes between lab hosts: runsc checkpoints the source, the checkpoint moves with
/// the writable layer and volume, and the destination restores it with its own address. A token the sandbox drew at
/// boot and holds only in gVisor's memory tells a restored sandbox from a rebooted one. A checkpoint that fails (runsc
/// refuses) falls back to a cold move; a destination lost after the checkpoint leaves the source restored in place.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LiveRelocationTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_gvisor_sandbox_moves_live_over_the_fabric_keeping_its_memory_and_the_VIP_follows()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        await using var front = await lab.OpenFrontAsync();
        await using var coordinator = await lab.ConnectCoordinatorAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a, RuntimeTier.Gvisor);
        var token = await WebService.MemoryTokenAsync(a, "web");

        // No connection is open during the move: runsc 2022-12 cannot save a connected TCP endpoint (next test).
        var report = await new RelocationCoordinator().RelocateAsync("web", a.OnFabric(coordinator), b.OnFabric(coordinator), web.Binding);

        Assert.True(report.Succeeded, report.Failure);
        Assert.True(report.Mode == MigrationMode.Live, report.LiveUnavailable);
        Assert.Null(report.LiveUnavailable);
        var moved = Assert.Single(b.Sandboxes.List());
        Assert.Equal(RuntimeTier.Gvisor, moved.Tier);
        Assert.Equal(IPAddress.Parse(moved.Address!), front.Current(web.Vip));
        Assert.Equal(token, await WebService.MemoryTokenAsync(b, "web"));
        using var http = lab.ClientHttp(RequestTimeout);
        Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));
        var check = await b.Sandboxes.ExecAsync(moved.Id, ["sh", "-c", "cat /etc/moved-marker; test -e /bin/vi && echo vi-present || echo vi-gone; md5sum /data/blob"], null, TimeSpan.FromSeconds(10));
        Assert.Equal($"{web.Marker}\nvi-gone\n{web.BlobMd5}  /data/blob\n", check.Stdout);
        Assert.Empty(a.Sandboxes.List());
    }

    [Fact]
    public async Task A_checkpoint_runsc_refuses_moves_the_sandbox_cold_and_says_why()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a, RuntimeTier.Gvisor);
        var token = await WebService.MemoryTokenAsync(a, "web");
        // A client holds a connection open through the VIP: runsc 2022-12 refuses to save a connected TCP endpoint.
        using var held = await lab.ConnectFromClientAsync(new IPEndPoint(web.Vip, 80));
        using var http = lab.ClientHttp(RequestTimeout);
        Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));

        var report = await new RelocationCoordinator().RelocateAsync("web", a.Relocation, b.Relocation, web.Binding);

        Assert.True(report.Succeeded, report.Failure);
        Assert.Equal(MigrationMode.Cold, report.Mode);
        Assert.Contains("checkpoint failed", report.LiveUnavailable, StringComparison.Ordinal);
        Assert.Contains("connected state", report.LiveUnavailable, StringComparison.Ordinal);
        Assert.True(report.LiveUnavailable!.Length < 1000, report.LiveUnavailable); // runsc's reason, not its object dump
        // Booted afresh on B (a new token), with its files, behind the same VIP.
        Assert.NotEqual(token, await WebService.MemoryTokenAsync(b, "web"));
        Assert.Equal(web.Payload, await RelocationTests.GetWithRetriesAsync(http, web.Url));
        Assert.Empty(a.Sandboxes.List());
    }

    [Fact]
    public async Task A_destination_that_dies_after_the_checkpoint_leaves_the_sandbox_restored_on_the_source_with_its_memory()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a, RuntimeTier.Gvisor);
        var token = await WebService.MemoryTokenAsync(a, "web");
        var before = a.Sandboxes.Get("web");
        var coordinator = RelocationTests.LosingDestinationAfterTheStop(b);

        var report = await coordinator.RelocateAsync("web", a.Relocation, b.Relocation, web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains(b.Name, report.Failure, StringComparison.Ordinal);
        await web.AssertServedFromAsync(lab, a, before);
        Assert.Equal(token, await WebService.MemoryTokenAsync(a, "web"));
    }
}
