using Moat.Mtd.Placement;

namespace Moat.Mtd.Simulation;

/// <summary>What one simulated attack campaign ended with.</summary>
/// <param name="CompromisedAtHours">When an attack completed, or null when the target survived the horizon.</param>
/// <param name="Relocations">Moves of the target.</param>
/// <param name="AttacksStarted">Attacks begun while co-resident.</param>
/// <param name="AttacksBroken">Attacks cut short by a move of the target.</param>
/// <param name="SumDelta">Sum of Δ over the target's moves.</param>
/// <param name="Alerts">Alerts raised by co-residency probes.</param>
/// <param name="Events">Events the trial processed (for the benchmark).</param>
internal readonly record struct TrialResult(double? CompromisedAtHours, int Relocations, int AttacksStarted, int AttacksBroken, double SumDelta, int Alerts, int Events = 0);

/// <summary>
/// One campaign as a discrete-event model: the attacker keeps K sandboxes launched; each lands on a host drawn with
/// weight e^(−βΔ) from the target's launch host (the scheduler honours the launch profile the attacker copies), probes
/// for co-residency, relaunches when alone, and attacks when beside the target; an attack succeeds only if the target
/// stays on that host for the attack's whole duration. The target moves by its strategy.
/// </summary>
internal sealed class CoResidencyTrial
{
    private const string AttackerTenant = "attacker";
    private const string TargetTenant = "target";
    private const int HistoryLength = 4;

    private readonly SimulationOptions _options;
    private readonly Strategy _strategy;
    private readonly Random _random;
    private readonly HostInfo[] _hosts;
    private readonly int[] _attackersOn;
    private readonly int[] _attackerHost;
    private readonly int[] _attackingEpoch;
    private readonly double[] _aimWeight;
    private readonly PriorityQueue<Event, (double Time, long Seq)> _queue = new();
    private readonly IPlacementPolicy _placement;
    private readonly List<string> _history = [];
    private long _seq;
    private int _targetHost;
    private int _epoch;

    public CoResidencyTrial(SimulationOptions options, Strategy strategy, HostInfo[] fleet, int attackers, Random random)
    {
        _options = options;
        _strategy = strategy;
        _random = random;
        _hosts = (HostInfo[])fleet.Clone();
        _attackersOn = new int[fleet.Length];
        _attackerHost = new int[attackers];
        _attackingEpoch = new int[attackers];
        _aimWeight = new double[fleet.Length];
        _placement = strategy.CreatePlacement(options.Weights, random);
    }

    public TrialResult Run()
    {
        int relocations = 0, started = 0, broken = 0, alerts = 0, events = 0;
        double sumDelta = 0;

        // The target is launched on a uniformly drawn host with room; the attacker copies its launch profile.
        _targetHost = DrawHost(uniform: true);
        Occupy(_targetHost, TargetTenant, +1);
        AimAt(_targetHost);

        for (var i = 0; i < _attackerHost.Length; i++)
        {
            _attackingEpoch[i] = -1;
            Launch(i, 0);
        }

        ScheduleRelocation(0);
        var horizon = _options.HorizonHours;
        while (_queue.TryDequeue(out var ev, out var key) && key.Time <= horizon)
        {
            var now = key.Time;
            events++;
            switch (ev.Kind)
            {
                case EventKind.ProbeDone:
                    var i = ev.Attacker;
                    if (_attackerHost[i] != _targetHost)
                    {
                        Occupy(_attackerHost[i], AttackerTenant, -1);
                        Launch(i, now);
                        break;
                    }

                    if (_strategy.Timing.MovesOnAlert && _random.NextDouble() < _options.AlertProbability)
                    {
                        alerts++;
                        var moved = Relocate(PlacementConstraints.AwayFrom(AttackerTenant, _hosts[_attackerHost[i]].Id));
                        if (moved is { } d)
                        {
                            relocations++;
                            sumDelta += d;
                            broken += BreakAttacks(now);
                        }

                        Enqueue(now + _options.ProbeHours, EventKind.ProbeDone, i, 0);
                        break;
                    }

                    started++;
                    _attackingEpoch[i] = _epoch;
                    var duration = _options.AttackHours * (0.5 + _random.NextDouble());
                    Enqueue(now + duration, EventKind.AttackDone, i, _epoch);
                    break;

                case EventKind.AttackDone:
                    if (ev.Epoch == _epoch && _attackingEpoch[ev.Attacker] == _epoch)
                    {
                        return new TrialResult(now, relocations, started, broken, sumDelta, alerts, events);
                    }

                    break;

                case EventKind.Relocate:
                    if (Relocate(PlacementConstraints.None) is { } delta)
                    {
                        relocations++;
                        sumDelta += delta;
                        broken += BreakAttacks(now);
                    }

                    ScheduleRelocation(now);
                    break;
            }
        }

        return new TrialResult(null, relocations, started, broken, sumDelta, alerts, events);
    }

    private int BreakAttacks(double now)
    {
        // A move gives the target a new host and address; every attack in progress loses its victim and re-probes.
        var broken = 0;
        for (var i = 0; i < _attackingEpoch.Length; i++)
        {
            if (_attackingEpoch[i] >= 0 && _attackingEpoch[i] != _epoch)
            {
                broken++;
                _attackingEpoch[i] = -1;
                Enqueue(now + _options.ProbeHours, EventKind.ProbeDone, i, 0);
            }
        }

        return broken;
    }

    private double? Relocate(PlacementConstraints constraints)
    {
        var sandbox = new SandboxInfo("target", TargetTenant, _hosts[_targetHost].Id, 1, _history);
        var decision = _placement.ChooseDestination(sandbox, _hosts, constraints);
        if (decision.Host is null)
        {
            return null;
        }

        var to = Array.FindIndex(_hosts, h => string.Equals(h.Id, decision.Host.Id, StringComparison.Ordinal));
        Occupy(_targetHost, TargetTenant, -1);
        Occupy(to, TargetTenant, +1);
        // Remember the launch host for good (the attacker aims at its profile) and the last few hosts before this move.
        _history.Add(_hosts[_targetHost].Id);
        if (_history.Count > HistoryLength)
        {
            _history.RemoveAt(1);
        }

        _targetHost = to;
        _epoch++;
        if (_options.AdaptiveAttacker)
        {
            AimAt(to);
        }

        return decision.Heterogeneity;
    }

    private void AimAt(int host)
    {
        var profile = _hosts[host];
        for (var h = 0; h < _hosts.Length; h++)
        {
            _aimWeight[h] = Math.Exp(-_options.AttackerAim * HeterogeneityScale.Compute(profile, _hosts[h], _options.Weights));
        }
    }

    private void ScheduleRelocation(double now)
    {
        if (_strategy.Timing.NextDwell(_random) is { } dwell)
        {
            Enqueue(now + dwell.TotalHours, EventKind.Relocate, -1, 0);
        }
    }

    private void Launch(int attacker, double now)
    {
        var h = DrawHost(uniform: false);
        _attackerHost[attacker] = h;
        _attackingEpoch[attacker] = -1;
        Occupy(h, AttackerTenant, +1);
        Enqueue(now + _options.ProbeHours, EventKind.ProbeDone, attacker, 0);
    }

    private int DrawHost(bool uniform)
    {
        var total = 0.0;
        for (var h = 0; h < _hosts.Length; h++)
        {
            total += _hosts[h].Free > 0 ? (uniform ? 1 : _aimWeight[h]) : 0;
        }

        if (total <= 0)
        {
            throw new MtdException("Every simulated host is full; options validation should have prevented this.");
        }

        var x = _random.NextDouble() * total;
        var last = -1;
        for (var h = 0; h < _hosts.Length; h++)
        {
            if (_hosts[h].Free <= 0)
            {
                continue;
            }

            last = h;
            x -= uniform ? 1 : _aimWeight[h];
            if (x < 0)
            {
                return h;
            }
        }

        return last;
    }

    private void Occupy(int host, string tenant, int change)
    {
        var h = _hosts[host];
        var tenants = h.Tenants;
        if (string.Equals(tenant, AttackerTenant, StringComparison.Ordinal))
        {
            _attackersOn[host] += change;
            var present = _attackersOn[host] > 0;
            if (present != tenants.Contains(AttackerTenant))
            {
                var copy = new HashSet<string>(tenants, StringComparer.Ordinal);
                if (present)
                {
                    copy.Add(AttackerTenant);
                }
                else
                {
                    copy.Remove(AttackerTenant);
                }

                tenants = copy;
            }
        }

        _hosts[host] = h with { Used = h.Used + change, Tenants = tenants };
    }

    private void Enqueue(double time, EventKind kind, int attacker, int epoch) =>
        _queue.Enqueue(new Event(kind, attacker, epoch), (time, _seq++));

    private enum EventKind
    {
        ProbeDone,
        AttackDone,
        Relocate,
    }

    private readonly record struct Event(EventKind Kind, int Attacker, int Epoch);
}
