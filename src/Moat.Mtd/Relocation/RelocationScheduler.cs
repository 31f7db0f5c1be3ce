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

/// <summary>What one pass of fleet discovery changed.</summary>
/// <param name="Added">Sandboxes now tracked (by name, or id when unnamed).</param>
/// <param name="Dropped">Tracked sandboxes that no host runs any more.</param>
/// <param name="HostsAnswering">Hosts that answered the listing.</param>
/// <param name="Hosts">Hosts of the fleet.</param>
public sealed record DiscoveryResult(IReadOnlyList<string> Added, IReadOnlyList<string> Dropped, int HostsAnswering, int Hosts);

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
    private MoveBudget? _budget;
    private FleetDiscovery? _discovery;

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

    /// <summary>Holds every host to at most <see cref="MoveBudget.MovesPerHour"/> moves out of it in any hour; a due
    /// sandbox whose host has spent its budget waits until a move is free (its alert, if any, is kept).</summary>
    public void UseBudget(MoveBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        _budget = budget;
    }

    /// <summary>
    /// Moves the whole fleet without anyone naming sandboxes: every <paramref name="interval"/>,
    /// <see cref="RunAsync"/> lists every host and tracks each running sandbox it has not seen (by name, or by id when
    /// unnamed) under the policy <paramref name="policies"/> gives its client (or the sandbox itself), its clock
    /// counted from the sandbox's start; sandboxes that are gone from every host (all of them answering) are dropped.
    /// </summary>
    public void TrackEverySandbox(RelocationPolicyTable policies, TimeSpan interval, bool alsoOnAlert = false)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _discovery = new FleetDiscovery(policies, interval, alsoOnAlert);
    }

    /// <summary>The sandboxes tracked now (by name, or by id when unnamed).</summary>
    public IReadOnlyList<string> TrackedSandboxes
    {
        get
        {
            lock (_tracked)
            {
                return [.. _tracked.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>
    /// One pass of fleet discovery (see <see cref="TrackEverySandbox"/>): tracks the running sandboxes not yet tracked
    /// and drops the discovered ones no host runs any more. Returns what changed.
    /// </summary>
    public async Task<DiscoveryResult> DiscoverAsync(CancellationToken cancellationToken = default)
    {
        var discovery = _discovery ?? throw new InvalidOperationException("call TrackEverySandbox before DiscoverAsync.");
        var (hosts, where) = await SnapshotAsync(cancellationToken).ConfigureAwait(false);
        var added = new List<string>();
        var dropped = new List<string>();
        lock (_tracked)
        {
            foreach (var (key, (_, sandbox)) in where)
            {
                if (_tracked.ContainsKey(key))
                {
                    continue;
                }

                var policy = discovery.Policies.Resolve(key, sandbox.Spec.Client);
                if (discovery.AlsoOnAlert && policy is not OffRelocationPolicy and not OnAlertRelocationPolicy)
                {
                    policy = policy with { AlsoOnAlert = true };
                }

                _tracked[key] = new Tracked(null, new HashSet<string>(StringComparer.Ordinal), [], Discovered: true);
                _clock.Track(key, policy, sandbox.StartedAt ?? sandbox.CreatedAt);
                added.Add(key);
            }

            // Only a full view may drop: a host that did not answer may still run what it ran.
            if (hosts.Count == _fleet.Count)
            {
                foreach (var key in _tracked.Where(t => t.Value.Discovered && !where.ContainsKey(t.Key)).Select(t => t.Key).ToList())
                {
                    _tracked.Remove(key);
                    _clock.Untrack(key);
                    dropped.Add(key);
                }
            }
        }

        return new DiscoveryResult(added, dropped, hosts.Count, _fleet.Count);
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
        var nextDiscovery = _time.GetUtcNow();
        while (!cancellationToken.IsCancellationRequested)
        {
            if (_discovery is { } discovery && _time.GetUtcNow() >= nextDiscovery)
            {
                var found = await DiscoverAsync(cancellationToken).ConfigureAwait(false);
                if (found.Added.Count > 0 || found.Dropped.Count > 0)
                {
                    LogDiscovered(_log, found.Added.Count, found.Dropped.Count, found.HostsAnswering, found.Hosts);
                }

                nextDiscovery = _time.GetUtcNow() + discovery.Interval;
            }

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
                next = _clock.NextDue();
            }

            if (_discovery is not null && (next is null || nextDiscovery < next))
            {
                next = nextDiscovery;
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

        if (_budget is { } budget && !budget.TryTake(source.Host.Host.Name, out var free))
        {
            var reason = $"host '{source.Host.Host.Name}' has spent its budget of {budget.MovesPerHour} moves an hour; '{due.SandboxId}' waits until {free:u}.";
            LogOverBudget(_log, due.SandboxId, reason);
            lock (_tracked)
            {
                _clock.Defer(due.SandboxId, free);
            }

            return new ScheduledRelocation(due, new PlacementDecision(null, PlacementOutcome.OverBudget, reason, 0), null);
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
        if (report.Succeeded && source.Sandbox.Name is null && report.DestinationId is { } copy)
        {
            // An unnamed sandbox is followed by id, and its copy has a new one.
            lock (_tracked)
            {
                if (_tracked.Remove(due.SandboxId, out var t))
                {
                    _tracked[copy] = t;
                    _clock.Rename(due.SandboxId, copy);
                }
            }
        }

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
            foreach (var s in placed.Where(s => s.State == SandboxState.Running))
            {
                where[s.Name ?? s.Id] = (f, s);
            }

            hosts.Add(new HostInfo(
                f.Host.Name, f.Configuration, f.Network,
                placed.Select(s => s.Spec.Image).ToHashSet(StringComparer.Ordinal),
                f.Capacity, placed.Count,
                placed.Select(s => s.Spec.Client).ToHashSet(StringComparer.Ordinal)));
        }

        return (hosts, where);
    }

    private sealed record Tracked(ServiceBinding? Service, IReadOnlySet<string> AntiAffinity, List<string> History, bool Discovered = false);

    private sealed record FleetDiscovery(RelocationPolicyTable Policies, TimeSpan Interval, bool AlsoOnAlert);

    [LoggerMessage(EventId = 812, Level = LogLevel.Information, Message = "Fleet: {Added} sandboxes now tracked, {Dropped} gone ({Answering} of {Hosts} hosts answered)")]
    private static partial void LogDiscovered(ILogger logger, int added, int dropped, int answering, int hosts);

    [LoggerMessage(EventId = 813, Level = LogLevel.Information, Message = "Sandbox {Name} is due but waits: {Reason}")]
    private static partial void LogOverBudget(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 810, Level = LogLevel.Warning, Message = "Sandbox {Name} is due to move but has no destination: {Reason}")]
    private static partial void LogNoDestination(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 811, Level = LogLevel.Warning, Message = "Host {Host} is left out of placement: {Reason}")]
    private static partial void LogHostUnreachable(ILogger logger, string host, string reason);
}
