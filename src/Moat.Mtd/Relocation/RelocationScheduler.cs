using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Host.Sandboxes;
using Moat.Mtd.Placement;
using Moat.Mtd.Policy;
using Moat.Mtd.Relocation.Network;

namespace Moat.Mtd.Relocation;

/// <summary>The hook a detector or the monitor calls when it suspects one sandbox of attacking another.</summary>
public interface IRelocationAlertSink
{
    /// <summary>Reports <paramref name="suspect"/> (a sandbox name) as attacking <paramref name="victim"/>; returns true
    /// when the victim's policy moves it (it then moves at once, away from the suspect's host and tenant).</summary>
    bool RaiseAlert(string victim, string suspect);
}

/// <summary>A host the scheduler may place sandboxes on, with the features Δ compares and its capacity.</summary>
/// <param name="Host">How to reach it.</param>
/// <param name="Configuration">Feature C.</param>
/// <param name="Network">Feature N.</param>
/// <param name="Capacity">Sandboxes it may hold (relocated in or not).</param>
public sealed record FleetHost(IRelocationHost Host, HostConfiguration Configuration, NetworkLocation Network, int Capacity);

/// <summary>What the scheduler did about one due sandbox.</summary>
/// <param name="Due">Why it was due.</param>
/// <param name="Placement">Where Δ placed it, or why nowhere.</param>
/// <param name="Report">The relocation, when a destination was chosen.</param>
public sealed record ScheduledRelocation(DueRelocation Due, PlacementDecision Placement, RelocationReport? Report);

/// <summary>
/// Drives relocations from policy: each tracked sandbox (by name, which it keeps across hosts) gets its clock from
/// <see cref="RelocationClock"/> (off / periodic / Poisson / on alert); when one is due the scheduler reads every
/// host's sandboxes, builds the hosts' features and load, asks the placement policy (max-Δ by default) for a
/// destination under capacity and anti-affinity, and has the coordinator move it.
/// </summary>
public sealed partial class RelocationScheduler : IRelocationAlertSink
{
    private readonly IReadOnlyList<FleetHost> _fleet;
    private readonly RelocationCoordinator _coordinator;
    private readonly IPlacementPolicy _placement;
    private readonly RelocationClock _clock;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Dictionary<string, Tracked> _tracked = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);

    public RelocationScheduler(IReadOnlyList<FleetHost> fleet, RelocationCoordinator coordinator, IPlacementPolicy placement, TimeProvider time, Random random, ILogger<RelocationScheduler>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        if (fleet.Select(f => f.Host.Name).Distinct(StringComparer.Ordinal).Count() != fleet.Count)
        {
            throw new ArgumentException("every host of the fleet needs its own name.");
        }

        _fleet = fleet;
        _coordinator = coordinator;
        _placement = placement;
        _time = time;
        _clock = new RelocationClock(time, random);
        _log = logger ?? NullLogger<RelocationScheduler>.Instance;
    }

    /// <summary>Starts moving sandbox <paramref name="name"/> under <paramref name="policy"/>; its first dwell starts now.</summary>
    /// <param name="antiAffinity">Tenants it must never share a host with.</param>
    public void Track(string name, RelocationPolicy policy, ServiceBinding? service = null, IReadOnlySet<string>? antiAffinity = null)
    {
        lock (_tracked)
        {
            _tracked[name] = new Tracked(service, antiAffinity ?? new HashSet<string>(StringComparer.Ordinal), []);
            _clock.Track(name, policy);
        }
    }

    /// <summary>When the sandbox is next due by its clock (null: only an alert moves it).</summary>
    public DateTimeOffset? DueAt(string name)
    {
        lock (_tracked)
        {
            return _clock.DueAt(name);
        }
    }

    public bool RaiseAlert(string victim, string suspect)
    {
        bool moves;
        lock (_tracked)
        {
            moves = _clock.RaiseAlert(victim, suspect);
        }

        if (moves)
        {
            _signal.Release();
        }

        return moves;
    }

    /// <summary>Moves every sandbox that is due now, one after another, and says what happened to each.</summary>
    public async Task<IReadOnlyList<ScheduledRelocation>> RunDueAsync(CancellationToken cancellationToken = default)
    {
        IReadOnlyList<DueRelocation> due;
        lock (_tracked)
        {
            due = _clock.GetDue();
        }

        var results = new List<ScheduledRelocation>();
        foreach (var d in due)
        {
            results.Add(await MoveAsync(d, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    /// <summary>Runs until cancelled: sleeps (on the injected clock) until the next sandbox is due or an alert comes.</summary>
    public async Task RunAsync(Func<ScheduledRelocation, Task>? onRelocation = null, CancellationToken cancellationToken = default)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // Stopping ends the waiting, not a move in flight: the due moves run to their end (or roll back on failure).
            foreach (var r in await RunDueAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (onRelocation is not null)
                {
                    await onRelocation(r).ConfigureAwait(false);
                }
            }

            DateTimeOffset? next;
            lock (_tracked)
            {
                next = _tracked.Keys.Select(_clock.DueAt).Where(t => t is not null).Min();
            }

            using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var waits = new List<Task> { _signal.WaitAsync(wake.Token) };
            if (next is { } t)
            {
                var delay = t - _time.GetUtcNow();
                waits.Add(Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, _time, wake.Token));
            }

            await Task.WhenAny(waits).ConfigureAwait(false);
            await wake.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(waits.Select(w => w.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default))).ConfigureAwait(false);
        }
    }

    private async Task<ScheduledRelocation> MoveAsync(DueRelocation due, CancellationToken cancellationToken)
    {
        Tracked tracked;
        lock (_tracked)
        {
            tracked = _tracked[due.SandboxId];
        }

        var (hosts, where) = await SnapshotAsync(cancellationToken).ConfigureAwait(false);
        if (!where.TryGetValue(due.SandboxId, out var source))
        {
            var missing = new PlacementDecision(null, PlacementOutcome.UnknownSource, $"sandbox '{due.SandboxId}' runs on none of the {hosts.Count} reachable hosts.", 0);
            Rearm(due.SandboxId);
            return new ScheduledRelocation(due, missing, null);
        }

        var constraints = new PlacementConstraints(tracked.AntiAffinity, new HashSet<string>(StringComparer.Ordinal));
        if (due.Reason == DueReason.Alert && due.Suspect is { } suspect && where.TryGetValue(suspect, out var suspectAt))
        {
            var away = PlacementConstraints.AwayFrom(suspectAt.Sandbox.Spec.Client, suspectAt.Host.Host.Name);
            constraints = new PlacementConstraints(
                new HashSet<string>(constraints.AntiAffinityTenants.Concat(away.AntiAffinityTenants), StringComparer.Ordinal),
                away.AvoidHostIds);
        }

        var info = new SandboxInfo(due.SandboxId, source.Sandbox.Spec.Client, source.Host.Host.Name, 1, tracked.History);
        var decision = _placement.ChooseDestination(info, hosts, constraints);
        if (decision.Host is null)
        {
            LogNoDestination(_log, due.SandboxId, decision.Reason);
            Rearm(due.SandboxId);
            return new ScheduledRelocation(due, decision, null);
        }

        var destination = _fleet.First(f => f.Host.Name == decision.Host.Id).Host;
        var report = await _coordinator.RelocateAsync(source.Sandbox.Id, source.Host.Host, destination, tracked.Service, cancellationToken).ConfigureAwait(false);
        if (report.Succeeded)
        {
            tracked.History.Add(source.Host.Host.Name);
            if (tracked.History.Count > 4)
            {
                tracked.History.RemoveAt(0);
            }
        }

        // A failed move restarts the dwell too: retrying at once against the same fault would only add downtime.
        Rearm(due.SandboxId);
        return new ScheduledRelocation(due, decision, report);
    }

    private void Rearm(string name)
    {
        lock (_tracked)
        {
            _clock.MarkRelocated(name);
        }
    }

    /// <summary>Every reachable host's features and load, and where each named sandbox runs.</summary>
    private async Task<(List<HostInfo> Hosts, Dictionary<string, (FleetHost Host, Sandbox Sandbox)> Where)> SnapshotAsync(CancellationToken cancellationToken)
    {
        var hosts = new List<HostInfo>();
        var where = new Dictionary<string, (FleetHost, Sandbox)>(StringComparer.Ordinal);
        foreach (var f in _fleet)
        {
            IReadOnlyList<Sandbox> sandboxes;
            try
            {
                sandboxes = await f.Host.ListAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RelocationHostException e)
            {
                LogHostUnreachable(_log, f.Host.Name, e.Message);
                continue;
            }

            var placed = sandboxes.Where(s => s.PoolImage is null).ToList();
            foreach (var s in placed.Where(s => s.Name is not null && s.State == SandboxState.Running))
            {
                where[s.Name!] = (f, s);
            }

            hosts.Add(new HostInfo(
                f.Host.Name, f.Configuration, f.Network,
                placed.Select(s => s.Spec.Image).ToHashSet(StringComparer.Ordinal),
                f.Capacity, placed.Count,
                placed.Select(s => s.Spec.Client).ToHashSet(StringComparer.Ordinal)));
        }

        return (hosts, where);
    }

    private sealed record Tracked(ServiceBinding? Service, IReadOnlySet<string> AntiAffinity, List<string> History);

    [LoggerMessage(EventId = 810, Level = LogLevel.Warning, Message = "Sandbox {Name} is due to move but has no destination: {Reason}")]
    private static partial void LogNoDestination(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 811, Level = LogLevel.Warning, Message = "Host {Host} is left out of placement: {Reason}")]
    private static partial void LogHostUnreachable(ILogger logger, string host, string reason);
}
