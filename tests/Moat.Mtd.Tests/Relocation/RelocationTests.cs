using System.Net;
using Moat.Host.Sandboxes;
using Moat.Mtd.Placement;
using Moat.Mtd.Policy;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Lab;
using Moat.Mtd.Relocation.Network;
using Moat.Mtd.Tests.Policy;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// Real relocations between two (or three) host agents in a <see cref="SurrogateLab"/>: a busybox httpd sandbox
/// serving a page from its /data volume, reached by a client namespace only through a VIP on the front.
/// </summary>
public sealed class RelocationTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Sandbox_moves_from_A_to_B_while_a_client_keeps_using_the_VIP()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        using var http = lab.ClientHttp(RequestTimeout);
        Assert.Equal(web.Payload, await GetWithRetriesAsync(http, web.Url));

        // A client keeps asking through the VIP for the whole move; each request retries until it gets the page.
        using var stop = new CancellationTokenSource();
        var client = Task.Run(async () =>
        {
            var served = 0;
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(web.Payload, await GetWithRetriesAsync(http, web.Url));
                served++;
            }

            return served;
        });

        var report = await new RelocationCoordinator().RelocateAsync("web", a.Relocation, b.Relocation, web.Binding);
        await stop.CancelAsync();
        var served = await client;

        Assert.True(report.Succeeded, report.Failure);
        Assert.Equal(MigrationMode.Cold, report.Mode);
        Assert.Contains("unavailable", report.LiveUnavailable, StringComparison.Ordinal);
        Assert.True(report.BytesMoved > 256 * 1024, $"{report.BytesMoved} bytes moved"); // the blob alone is 256 KiB
        Assert.True(report.Downtime > TimeSpan.Zero);
        Assert.True(served > 0);

        // What a client at the VIP saw: a cold move stops the service, so some attempts failed and the longest gap
        // spans at least part of the downtime; the connection held across the move was reset (its server is gone).
        var view = report.ClientView!;
        Assert.True(view.Probes > view.Failed && view.Failed > 0, $"{view.Failed} of {view.Probes} probes failed");
        Assert.True(view.LongestGapMs > 0 && view.LongestGapMs < report.Total.TotalMilliseconds, $"longest gap {view.LongestGapMs} ms, move {report.Total.TotalMilliseconds} ms");
        Assert.Equal((1, 1), (view.HeldConnections, view.BrokenConnections));

        // The VIP leads to B's copy, which has the volume and the upper layer (a new file and a deleted one).
        var moved = Assert.Single(await b.Relocation.ListAsync());
        Assert.Equal("web", moved.Name);
        Assert.Equal(SandboxState.Running, moved.State);
        Assert.Equal(IPAddress.Parse(moved.Address!), front.Current(web.Vip));
        Assert.NotEqual(report.OldAddress, moved.Address);
        Assert.Equal(web.Payload, await GetWithRetriesAsync(http, web.Url));
        var check = await b.Sandboxes.ExecAsync(moved.Id, ["sh", "-c", "cat /etc/moved-marker; test -e /bin/vi && echo vi-present || echo vi-gone; md5sum /data/blob"], null, TimeSpan.FromSeconds(10));
        Assert.Equal(0, check.ExitCode);
        Assert.Equal($"{web.Marker}\nvi-gone\n{web.BlobMd5}  /data/blob\n", check.Stdout);

        // A holds nothing of it: no record, no folder, no volume, no namespace.
        Assert.Empty(await a.Relocation.ListAsync());
        Assert.False(Directory.Exists(Path.Combine(a.Options.StateDir, "sandboxes", report.SourceId)));
        Assert.False(File.Exists(Path.Combine(a.Options.StateDir, "disks", report.SourceId + ".ext4"))); // its disk (and the volume on it)
        Assert.False(File.Exists("/run/netns/moat-" + report.SourceId));
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_full_destination_refuses_before_the_sandbox_stops()
    {
        // /30 pools: two addresses per host, both taken on B.
        await using var lab = await LabImages.StartLabAsync(poolPrefixLength: 30);
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        await b.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "filler1" });
        await b.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "filler2" });
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");

        var report = await new RelocationCoordinator().RelocateAsync("web", a.Relocation, b.Relocation, web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains("exhausted", report.Failure, StringComparison.Ordinal);
        Assert.Equal(0, report.BytesMoved);
        await web.AssertServedFromAsync(lab, a, before);
        Assert.Equal(["filler1", "filler2"], (await b.Relocation.ListAsync()).Select(s => s.Name).Order());
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_destination_that_dies_mid_migration_leaves_the_sandbox_running_on_the_source()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        var coordinator = RelocationTests.LosingDestinationAfterTheStop(b);

        var report = await coordinator.RelocateAsync("web", a.Relocation, b.Relocation, web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains(b.Name, report.Failure, StringComparison.Ordinal);
        Assert.Contains(report.Warnings, w => w.Contains("could not be removed", StringComparison.Ordinal));
        await web.AssertServedFromAsync(lab, a, before);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_transfer_that_breaks_half_way_is_rolled_back_on_both_hosts()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");

        var report = await new RelocationCoordinator().RelocateAsync("web", new FaultyHost(a.Relocation) { BreakExportAfter = 16 * 1024 }, b.Relocation, web.Binding);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains("could not import state", report.Failure, StringComparison.Ordinal);
        Assert.Empty(report.Warnings);
        Assert.Empty(await b.Relocation.ListAsync());
        await web.AssertServedFromAsync(lab, a, before);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_move_cancelled_after_the_source_stopped_is_rolled_back_on_both_hosts()
    {
        await using var lab = await LabImages.StartLabAsync();
        await using var front = await lab.OpenFrontAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var web = await WebService.StartAsync(lab, front, a);
        var before = a.Sandboxes.Get("web");
        using var cancel = new CancellationTokenSource();
        var coordinator = new RelocationCoordinator(RelocationOptions.Default with
        {
            Observer = async (stage, _) =>
            {
                if (stage == RelocationStage.SourceStopped)
                {
                    await cancel.CancelAsync(); // e.g. the operator stops `moat mtd run` mid-move
                }
            },
        });

        var report = await coordinator.RelocateAsync("web", a.Relocation, b.Relocation, web.Binding, cancel.Token);

        Assert.Equal(RelocationOutcome.RolledBack, report.Outcome);
        Assert.Contains("cancelled", report.Failure, StringComparison.Ordinal);
        Assert.Empty(await b.Relocation.ListAsync());
        await web.AssertServedFromAsync(lab, a, before);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task The_scheduler_moves_a_sandbox_on_its_clock_and_away_from_a_suspect_on_alert()
    {
        await using var lab = await LabImages.StartLabAsync(hosts: 3);
        await using var front = await lab.OpenFrontAsync();
        var (a, b, c) = (lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]);
        var web = await WebService.StartAsync(lab, front, a);
        await c.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "suspect", Client = "mallory" });
        var time = new ManualTimeProvider(DateTimeOffset.UnixEpoch);
        var fleet = lab.Hosts.Select((h, i) => new FleetHost(
            h.Relocation, new HostConfiguration(Moat.Mtd.Placement.RuntimeTier.Container, "6.1", "debian-12"), new NetworkLocation("lan", "up" + i), Capacity: 4)).ToList();
        var scheduler = new RelocationScheduler(fleet, new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default), time, new Random(1));
        scheduler.Track("web", RelocationPolicy.Periodic(TimeSpan.FromHours(1)) with { AlsoOnAlert = true }, web.Binding);

        Assert.Empty(await scheduler.RunDueAsync());
        time.Advance(TimeSpan.FromHours(1));
        var byClock = Assert.Single(await scheduler.RunDueAsync());
        Assert.Equal(DueReason.Clock, byClock.Due.Reason);
        Assert.True(byClock.Report!.Succeeded, byClock.Report.Failure);
        var firstHop = byClock.Report.To;
        Assert.NotEqual(a.Name, firstHop);

        // The suspect lives on C: an alert must move web off C (if it is there) and never onto it.
        Assert.True(scheduler.RaiseAlert("web", "suspect"));
        var byAlert = Assert.Single(await scheduler.RunDueAsync());
        Assert.Equal(DueReason.Alert, byAlert.Due.Reason);
        Assert.True(byAlert.Report!.Succeeded, byAlert.Report.Failure);
        Assert.NotEqual(c.Name, byAlert.Report.To);
        using var http = lab.ClientHttp(RequestTimeout);
        Assert.Equal(web.Payload, await GetWithRetriesAsync(http, web.Url));
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task The_fleet_moves_by_its_clients_policies_without_anyone_naming_sandboxes()
    {
        await using var lab = await LabImages.StartLabAsync(hosts: 2);
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var roaming = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Client = "stranger" });
        var staying = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "home", Client = "alice" });
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        // Placement reads what each agent publishes about itself.
        var features = (await a.Relocation.StatusAsync()).Features!;
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), features.Kernel);
        Assert.StartsWith("runc version ", features.Runtimes["container"], StringComparison.Ordinal);
        var configuration = await Moat.Mtd.Cli.RunCommand.ConfigurationOfAsync(a.Relocation, CancellationToken.None);
        Assert.Equal((features.Kernel, features.Os, features.Runtimes["container"]), (configuration.Kernel, configuration.OsImage, configuration.Runtime));
        var fleet = lab.Hosts.Select((h, i) => new FleetHost(
            h.Relocation, configuration, new NetworkLocation("lan", "up" + i), Capacity: 4)).ToList();
        var scheduler = new RelocationScheduler(fleet, new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default), time, new Random(1));
        scheduler.UseBudget(new MoveBudget(1, time));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Off).WithTenant("stranger", RelocationPolicy.Periodic(TimeSpan.FromMinutes(10))), TimeSpan.FromSeconds(10));

        var found = await scheduler.DiscoverAsync();
        Assert.Equal(new[] { "home", roaming.Id }.Order(StringComparer.Ordinal), found.Added.Order(StringComparer.Ordinal));
        Assert.Empty(await scheduler.RunDueAsync());
        time.Advance(TimeSpan.FromMinutes(10));
        var moved = Assert.Single(await scheduler.RunDueAsync());

        Assert.True(moved.Report!.Succeeded, moved.Report.Failure);
        Assert.Equal(roaming.Id, moved.Report.SourceId);
        var copy = Assert.Single(await b.Relocation.ListAsync(), s => s.PoolImage is null);
        Assert.Equal((SandboxState.Running, "stranger"), (copy.State, copy.Spec.Client));
        Assert.Equal([copy.Id, "home"], scheduler.TrackedSandboxes.Order(StringComparer.Ordinal));
        Assert.Equal(staying.Id, Assert.Single(await a.Relocation.ListAsync(), s => s.PoolImage is null).Id);
    }

    /// <summary>A coordinator whose destination's agent stops as soon as the source has stopped (a host that dies
    /// mid-migration).</summary>
    internal static RelocationCoordinator LosingDestinationAfterTheStop(LabHost destination) => new(RelocationOptions.Default with
    {
        Observer = async (stage, _) =>
        {
            if (stage == RelocationStage.SourceStopped)
            {
                await destination.StopAgentAsync();
            }
        },
    });

    internal static async Task<string> GetWithRetriesAsync(HttpClient http, Uri url)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                return await http.GetStringAsync(url);
            }
            catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }
}

/// <summary>The relocatable web service of the tests: busybox httpd serving /data/www, bound to a VIP.</summary>
internal sealed record WebService(IPAddress Vip, ServiceBinding Binding, string Payload, string Marker, string BlobMd5)
{
    public Uri Url => new($"http://{Vip}/index.html");

    /// <param name="tier">The gvisor tier moves live (its /tmp is a tmpfs in gVisor's memory: <see cref="MemoryTokenAsync"/>).</param>
    public static async Task<WebService> StartAsync(SurrogateLab lab, VipFront front, LabHost host, Moat.Host.Sandboxes.RuntimeTier tier = Moat.Host.Sandboxes.RuntimeTier.Container)
    {
        var payload = "payload-" + Guid.NewGuid().ToString("N");
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var created = await host.Sandboxes.CreateAsync(SandboxSpec.Default with
        {
            Name = "web",
            Tier = tier,
            // The token is drawn when the sandbox boots: a restored sandbox keeps it, a booted one draws another.
            Command = ["sh", "-c", "head -c 8 /dev/urandom | md5sum | cut -c1-12 > /tmp/token; mkdir -p /data/www && exec httpd -f -p 80 -h /data/www"],
        });
        // /data gets the page and 256 KiB of random bytes; the upper layer gets a new file and a deletion (a whiteout).
        var setup = await host.Sandboxes.ExecAsync(created.Id, ["sh", "-c",
            $"mkdir -p /data/www && echo {payload} > /data/www/index.html && echo {marker} > /etc/moved-marker && rm /bin/vi && head -c 262144 /dev/urandom > /data/blob && md5sum /data/blob"], null, TimeSpan.FromSeconds(10));
        Assert.Equal(0, setup.ExitCode);
        var md5 = setup.Stdout.Split(' ')[0];
        var details = await host.Relocation.InspectAsync(created.Id);
        await lab.ExposeAsync(host.Relocation, details);
        var vip = lab.NextVip();
        await front.SwitchAsync(vip, IPAddress.Parse(created.Address!));
        return new WebService(vip, new ServiceBinding(front, vip, 80, lab), payload + "\n", marker, md5);
    }

    /// <summary>The token the sandbox drew when it booted (gvisor tier: held in gVisor's memory only).</summary>
    public static async Task<string> MemoryTokenAsync(LabHost host, string sandbox)
    {
        // Written by the sandbox's command as it boots; wait until it is there.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var r = await host.Sandboxes.ExecAsync(host.Sandboxes.Get(sandbox).Id, ["cat", "/tmp/token"], null, TimeSpan.FromSeconds(10), deadline.Token);
            if (r.ExitCode == 0 && r.Stdout.Trim().Length == 12)
            {
                return r.Stdout.Trim();
            }

            await Task.Delay(20, deadline.Token);
        }
    }

    /// <summary>The same sandbox (same id) still runs on <paramref name="host"/>, its data intact, and the VIP serves it.</summary>
    public async Task AssertServedFromAsync(SurrogateLab lab, LabHost host, Sandbox before)
    {
        var now = host.Sandboxes.Get("web");
        Assert.Equal(before.Id, now.Id);
        Assert.Equal(SandboxState.Running, now.State);
        Assert.Equal(IPAddress.Parse(before.Address!), ((VipFront)Binding.Addressing).Current(Vip));
        using var http = lab.ClientHttp(TimeSpan.FromSeconds(2));
        Assert.Equal(Payload, await RelocationTests.GetWithRetriesAsync(http, Url));
        var check = await host.Sandboxes.ExecAsync(now.Id, ["sh", "-c", "cat /etc/moved-marker; md5sum /data/blob"], null, TimeSpan.FromSeconds(10));
        Assert.Equal($"{Marker}\n{BlobMd5}  /data/blob\n", check.Stdout);
    }
}
