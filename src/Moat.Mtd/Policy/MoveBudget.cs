namespace Moat.Mtd.Policy;

/// <summary>
/// At most so many moves out of each host in any hour (a sliding window on an injected clock): relocation is a moving
/// target defense, and a fleet that moves without anyone naming sandboxes must not spend a host's time moving.
/// Alerts count against the budget too, so a tenant raising alerts cannot make a host do nothing but move.
/// </summary>
public sealed class MoveBudget
{
    private static readonly TimeSpan s_window = TimeSpan.FromHours(1);
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Queue<DateTimeOffset>> _moves = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <param name="movesPerHour">Moves out of one host in any hour; at least 1.</param>
    public MoveBudget(int movesPerHour, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(movesPerHour, 1);
        ArgumentNullException.ThrowIfNull(time);
        MovesPerHour = movesPerHour;
        _time = time;
    }

    /// <summary>Moves out of one host in any hour.</summary>
    public int MovesPerHour { get; }

    /// <summary>
    /// Spends one move of <paramref name="host"/>'s budget; false when the last hour already holds
    /// <see cref="MovesPerHour"/> of them, with <paramref name="nextFree"/> the time one becomes free again.
    /// </summary>
    public bool TryTake(string host, out DateTimeOffset nextFree)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (!_moves.TryGetValue(host, out var recent))
            {
                _moves[host] = recent = new Queue<DateTimeOffset>(MovesPerHour);
            }

            while (recent.Count > 0 && recent.Peek() + s_window <= now)
            {
                recent.Dequeue();
            }

            if (recent.Count >= MovesPerHour)
            {
                nextFree = recent.Peek() + s_window;
                return false;
            }

            recent.Enqueue(now);
            nextFree = now;
            return true;
        }
    }

    /// <summary>Moves out of <paramref name="host"/> in the last hour.</summary>
    public int Spent(string host)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            return _moves.TryGetValue(host, out var recent) ? recent.Count(t => t + s_window > now) : 0;
        }
    }
}
