using Moat.Host.Sandboxes;
using Moat.Mtd.Placement;
using Moat.Mtd.Policy;
using Moat.Mtd.Relocation;
using Moat.Mtd.Tests.Policy;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// The fleet moving by itself (issue 18, RELOCATE): every running sandbox of the hosts is tracked without anyone naming
/// it, on its client's policy, its clock counted from its start, within a budget of moves per host per hour.
/// Hosts are held in memory: what is tested is the schedule, not the move (RelocationTests move for real).
/// </summary>
public sealed class FleetSchedulerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Every_running_sandbox_is_tracked_on_its_clients_policy_with_a_clock_from_its_start()
    {
        var (time, a, b, scheduler) = Fleet();
        a.Run("web", "alice", T0 - TimeSpan.FromMinutes(50));
        var unnamed = a.Run(null, "mallory", T0 - TimeSpan.FromMinutes(5));
        a.Run("idle", "bob", T0 - TimeSpan.FromHours(3));
        a.Run("pooled", "bob", T0, poolImage: "busybox");
        a.Run("halted", "alice", T0, SandboxState.Stopped);
        b.Run("db", "alice", T0 - TimeSpan.FromMinutes(70));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Off)
            .WithTenant("alice", RelocationPolicy.Periodic(TimeSpan.FromHours(1)))
            .WithTenant("mallory", RelocationPolicy.Periodic(TimeSpan.FromMinutes(10))), TimeSpan.FromSeconds(10));

        var found = await scheduler.DiscoverAsync();

        Assert.Equal(new[] { "db", "idle", unnamed.Id, "web" }.Order(StringComparer.Ordinal), found.Added.Order(StringComparer.Ordinal));
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), scheduler.DueAt("web"));
        Assert.Equal(T0 + TimeSpan.FromMinutes(5), scheduler.DueAt(unnamed.Id));
        Assert.Null(scheduler.DueAt("idle")); // bob has no policy: the default, off
        Assert.Equal(T0 - TimeSpan.FromMinutes(10), scheduler.DueAt("db")); // its hour is over: due at once
        var dueNow = Assert.Single(await scheduler.RunDueAsync());
        Assert.Equal("db", dueNow.Due.SandboxId);
        Assert.True(dueNow.Report!.Succeeded, dueNow.Report.Failure);
        Assert.Equal(a.Name, dueNow.Report.To);
        Assert.Empty((await scheduler.DiscoverAsync()).Added); // db keeps its name on host-a: still tracked, not new
    }

    [Fact]
    public async Task An_unnamed_sandbox_is_followed_to_its_copy_and_keeps_its_schedule()
    {
        var (time, a, b, scheduler) = Fleet();
        var unnamed = a.Run(null, "mallory", T0 - TimeSpan.FromMinutes(10));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Periodic(TimeSpan.FromMinutes(10))), TimeSpan.FromSeconds(10));
        await scheduler.DiscoverAsync();

        var moved = Assert.Single(await scheduler.RunDueAsync());

        Assert.True(moved.Report!.Succeeded, moved.Report.Failure);
        var copy = Assert.Single(b.Sandboxes);
        Assert.Equal(copy.Id, moved.Report.DestinationId);
        Assert.Equal([copy.Id], scheduler.TrackedSandboxes);
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), scheduler.DueAt(copy.Id));
        Assert.Empty(a.Sandboxes);
        Assert.Empty((await scheduler.DiscoverAsync()).Added);
    }

    [Fact]
    public async Task A_host_moves_out_at_most_its_budget_an_hour_and_the_rest_wait()
    {
        var (time, a, b, scheduler) = Fleet();
        foreach (var n in new[] { "s1", "s2", "s3" })
        {
            a.Run(n, "alice", T0 - TimeSpan.FromHours(2));
        }

        scheduler.UseBudget(new MoveBudget(2, time));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Periodic(TimeSpan.FromHours(2))), TimeSpan.FromSeconds(10));
        await scheduler.DiscoverAsync();

        var first = await scheduler.RunDueAsync();

        Assert.Equal(3, first.Count);
        Assert.Equal(2, first.Count(r => r.Report?.Succeeded == true));
        var held = Assert.Single(first, r => r.Report is null);
        Assert.Equal(PlacementOutcome.OverBudget, held.Placement.Outcome);
        Assert.Contains("budget of 2 moves an hour", held.Placement.Reason, StringComparison.Ordinal);
        Assert.Equal(2, b.Imports);

        time.Advance(TimeSpan.FromMinutes(59));
        Assert.Empty(await scheduler.RunDueAsync());

        time.Advance(TimeSpan.FromMinutes(1));
        var later = Assert.Single(await scheduler.RunDueAsync());
        Assert.Equal(held.Due.SandboxId, later.Due.SandboxId);
        Assert.True(later.Report!.Succeeded, later.Report.Failure);
        Assert.Equal(3, b.Imports);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_tenant_raising_alerts_cannot_make_a_host_move_beyond_its_budget()
    {
        var (time, a, b, scheduler) = Fleet();
        for (var i = 0; i < 10; i++)
        {
            a.Run("victim" + i, "alice", T0);
        }

        a.Run("noisy", "mallory", T0);
        scheduler.UseBudget(new MoveBudget(3, time));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Off).WithTenant("alice", RelocationPolicy.OnAlert), TimeSpan.FromSeconds(10));
        await scheduler.DiscoverAsync();

        // The suspect makes every neighbour a victim, again and again within the hour.
        for (var round = 0; round < 5; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                scheduler.RaiseAlert("victim" + i, "noisy");
            }

            await scheduler.RunDueAsync();
            time.Advance(TimeSpan.FromMinutes(5));
        }

        Assert.Equal(3, b.Imports);
        Assert.Equal(7, a.Sandboxes.Count(s => s.Name?.StartsWith("victim", StringComparison.Ordinal) == true));
    }

    [Fact]
    public async Task A_sandbox_gone_is_dropped_only_when_every_host_answered()
    {
        var (time, a, b, scheduler) = Fleet();
        var web = a.Run("web", "alice", T0);
        b.Run("db", "alice", T0);
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Periodic(TimeSpan.FromHours(1))), TimeSpan.FromSeconds(10));
        await scheduler.DiscoverAsync();
        a.Remove(web.Id);
        b.Unreachable = true;

        var partial = await scheduler.DiscoverAsync();

        Assert.Empty(partial.Dropped);
        Assert.Equal((1, 2), (partial.HostsAnswering, partial.Hosts));
        Assert.Equal(["db", "web"], scheduler.TrackedSandboxes);
        b.Unreachable = false;
        Assert.Equal(["web"], (await scheduler.DiscoverAsync()).Dropped);
        Assert.Equal(["db"], scheduler.TrackedSandboxes);
    }

    [Fact]
    public async Task Run_picks_up_a_sandbox_started_after_the_scheduler_and_moves_it_when_its_clock_says()
    {
        // Real time here: RunAsync waits on its clock's timers, which the manual clock does not drive.
        var time = TimeProvider.System;
        var a = new MemoryHost("host-a", time);
        var b = new MemoryHost("host-b", time);
        var scheduler = new RelocationScheduler(FleetOf(a, b), new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default), time, new Random(1));
        scheduler.TrackEverySandbox(new RelocationPolicyTable(RelocationPolicy.Off).WithTenant("alice", RelocationPolicy.Periodic(TimeSpan.FromMinutes(30))),
            TimeSpan.FromMilliseconds(50));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var moved = new TaskCompletionSource<ScheduledRelocation>(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = scheduler.RunAsync(r =>
        {
            moved.TrySetResult(r);
            return Task.CompletedTask;
        }, stop.Token);

        // Started half an hour ago on alice's policy: due as soon as the scheduler sees it. bob's stays (default off).
        a.Run("late", "alice", time.GetUtcNow() - TimeSpan.FromMinutes(30));
        a.Run("other", "bob", time.GetUtcNow() - TimeSpan.FromHours(5));
        var m = await moved.Task.WaitAsync(stop.Token);
        await stop.CancelAsync();
        await run;

        Assert.Equal("late", m.Due.SandboxId);
        Assert.True(m.Report!.Succeeded, m.Report.Failure);
        Assert.Equal("late", Assert.Single(b.Sandboxes).Name);
        Assert.Equal("other", Assert.Single(a.Sandboxes).Name);
    }

    private static (ManualTimeProvider Time, MemoryHost A, MemoryHost B, RelocationScheduler Scheduler) Fleet()
    {
        var time = new ManualTimeProvider(T0);
        var a = new MemoryHost("host-a", time);
        var b = new MemoryHost("host-b", time);
        return (time, a, b, new RelocationScheduler(FleetOf(a, b), new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default), time, new Random(1)));
    }

    private static List<FleetHost> FleetOf(params MemoryHost[] hosts) =>
        [.. hosts.Select((h, i) => new FleetHost(h, new HostConfiguration(Moat.Mtd.Placement.RuntimeTier.Container, "6.18", "debian-12"), new NetworkLocation("lan", "up" + i), Capacity: 64))];
}
