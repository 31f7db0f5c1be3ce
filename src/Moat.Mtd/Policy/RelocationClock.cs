namespace Moat.Mtd.Policy;

/// <summary>Says when each tracked sandbox is due to move, from its relocation policy, an injected clock and a seeded random source.</summary>
public sealed class RelocationClock
{
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Creates a clock; pass a seeded <paramref name="random"/> to make the schedule reproducible.</summary>
    public RelocationClock(TimeProvider time, Random random)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        _time = time;
        _random = random;
    }

    /// <summary>Starts (or restarts) tracking a sandbox under a policy; its first dwell starts now.</summary>
    public void Track(string sandboxId, RelocationPolicy policy) => Track(sandboxId, policy, _time.GetUtcNow());

    /// <summary>
    /// Starts (or restarts) tracking a sandbox whose first dwell began at <paramref name="since"/> (its start): a
    /// sandbox found long after it started is due at once when its dwell is already over.
    /// </summary>
    public void Track(string sandboxId, RelocationPolicy policy, DateTimeOffset since)
    {
        ArgumentException.ThrowIfNullOrEmpty(sandboxId);
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            _entries[sandboxId] = new Entry(policy, DueAfter(policy, since), null, null);
        }
    }

    /// <summary>Whether the sandbox is tracked.</summary>
    public bool IsTracked(string sandboxId)
    {
        lock (_gate)
        {
            return _entries.ContainsKey(sandboxId);
        }
    }

    /// <summary>
    /// Holds a due sandbox back until <paramref name="until"/> (e.g. its host's move budget is spent) without
    /// forgetting why it is due: it is due again then, with its alert if it had one.
    /// </summary>
    public void Defer(string sandboxId, DateTimeOffset until)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(sandboxId, out var e))
            {
                throw new MtdException($"Sandbox '{sandboxId}' is not tracked by the relocation clock.");
            }

            _entries[sandboxId] = e with { NotBefore = until };
        }
    }

    /// <summary>
    /// Follows a sandbox that changed its key (an unnamed sandbox is tracked by id, and its copy on the destination
    /// has a new one); its schedule is kept.
    /// </summary>
    public void Rename(string oldId, string newId)
    {
        ArgumentException.ThrowIfNullOrEmpty(newId);
        lock (_gate)
        {
            if (!_entries.Remove(oldId, out var e))
            {
                throw new MtdException($"Sandbox '{oldId}' is not tracked by the relocation clock.");
            }

            _entries[newId] = e;
        }
    }

    /// <summary>The earliest time any tracked sandbox is due (an alerted one: now, or when its deferral ends); null when none will be.</summary>
    public DateTimeOffset? NextDue()
    {
        var now = _time.GetUtcNow();
        DateTimeOffset? next = null;
        lock (_gate)
        {
            foreach (var e in _entries.Values)
            {
                DateTimeOffset? at = e.Suspect is not null ? now : e.DueAt;
                if (at is { } a && e.NotBefore is { } hold && hold > a)
                {
                    at = hold;
                }

                if (at is { } t && (next is null || t < next))
                {
                    next = t;
                }
            }
        }

        return next;
    }

    /// <summary>Stops tracking a sandbox; returns false when it was not tracked.</summary>
    public bool Untrack(string sandboxId)
    {
        lock (_gate)
        {
            return _entries.Remove(sandboxId);
        }
    }

    /// <summary>When the sandbox is next due, or null when only an alert (or nothing) will move it.</summary>
    public DateTimeOffset? DueAt(string sandboxId)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(sandboxId, out var e) ? e.DueAt : null;
        }
    }

    /// <summary>The sandboxes due now (due time reached or alerted), earliest first, with why each is due.</summary>
    public IReadOnlyList<DueRelocation> GetDue()
    {
        var now = _time.GetUtcNow();
        var due = new List<DueRelocation>();
        lock (_gate)
        {
            foreach (var (id, e) in _entries)
            {
                if (e.NotBefore is { } hold && hold > now)
                {
                    continue;
                }

                if (e.Suspect is { } suspect)
                {
                    due.Add(new DueRelocation(id, now, DueReason.Alert, suspect));
                }
                else if (e.DueAt is { } at && at <= now)
                {
                    due.Add(new DueRelocation(id, at, DueReason.Clock, null));
                }
            }
        }

        due.Sort(static (a, b) =>
        {
            var c = a.DueAt.CompareTo(b.DueAt);
            return c != 0 ? c : string.CompareOrdinal(a.SandboxId, b.SandboxId);
        });
        return due;
    }

    /// <summary>Records that the sandbox has moved: its next dwell starts now.</summary>
    public void MarkRelocated(string sandboxId)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(sandboxId, out var e))
            {
                throw new MtdException($"Sandbox '{sandboxId}' is not tracked by the relocation clock.");
            }

            _entries[sandboxId] = new Entry(e.Policy, DueAfter(e.Policy, _time.GetUtcNow()), null, null);
        }
    }

    /// <summary>
    /// Reports an alert naming <paramref name="victimId"/> as victim and <paramref name="suspect"/> as the suspect;
    /// returns true when the victim's policy moves it (it is then due at once, to be moved away from the suspect).
    /// </summary>
    public bool RaiseAlert(string victimId, string suspect)
    {
        ArgumentException.ThrowIfNullOrEmpty(suspect);
        lock (_gate)
        {
            if (!_entries.TryGetValue(victimId, out var e) || !e.Policy.MovesOnAlert)
            {
                return false;
            }

            _entries[victimId] = e with { Suspect = suspect };
            return true;
        }
    }

    private DateTimeOffset? DueAfter(RelocationPolicy policy, DateTimeOffset since)
    {
        // Random is not thread-safe; callers already hold the gate.
        var dwell = policy.NextDwell(_random);
        return dwell is { } d ? since + d : null;
    }

    private sealed record Entry(RelocationPolicy Policy, DateTimeOffset? DueAt, string? Suspect, DateTimeOffset? NotBefore);
}

/// <summary>One sandbox that should move now.</summary>
/// <param name="SandboxId">The sandbox.</param>
/// <param name="DueAt">When it became due.</param>
/// <param name="Reason">Whether the clock or an alert made it due.</param>
/// <param name="Suspect">For an alert, the suspect to move away from.</param>
public sealed record DueRelocation(string SandboxId, DateTimeOffset DueAt, DueReason Reason, string? Suspect);

/// <summary>Why a sandbox is due to move.</summary>
public enum DueReason
{
    /// <summary>Its dwell time is over.</summary>
    Clock,

    /// <summary>An alert named it as a victim.</summary>
    Alert,
}
