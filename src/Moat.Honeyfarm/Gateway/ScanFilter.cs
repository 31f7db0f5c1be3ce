namespace Moat.Honeyfarm.Gateway;

/// <summary>
/// Potemkin's scan filter: at most one new clone per (source, destination port, protocol) per interval, so a
/// horizontal scan of the range binds one address instead of every address it touches.
/// </summary>
/// <remarks>
/// Keys live in two generations of at most <c>capacity</c> keys each. New keys go into the current generation; when it
/// is older than the interval, or full, it becomes the previous generation and the old previous one is cleared (every
/// key in it is older than one interval, unless the table was flooded). A packet costs two dictionary lookups and each
/// key is cleared once, so the cost per packet is O(1) amortised and the table never holds more than twice
/// <c>capacity</c> keys, whatever a spoofed flood sends. A flood of more than <c>capacity</c> new keys within one interval
/// makes the filter forget its oldest keys early (counted in <see cref="Forgotten"/>): such a key may get a second clone
/// before its interval is over, which the farm's clone cap and new-source admission rate bound.
/// </remarks>
internal sealed class ScanFilter
{
    /// <summary>Keys per generation unless told otherwise.</summary>
    public const int DefaultCapacity = 65_536;

    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private Dictionary<(uint Source, ushort Port, byte Protocol), long> _current = [];
    private Dictionary<(uint Source, ushort Port, byte Protocol), long> _previous = [];
    private long _currentStarted;

    public ScanFilter(TimeSpan interval, TimeProvider time, int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _interval = interval;
        _time = time;
        _capacity = capacity;
        _currentStarted = time.GetTimestamp();
    }

    /// <summary>Keys held now (both generations).</summary>
    public int Count => _current.Count + _previous.Count;

    /// <summary>Entries cleared by upkeep (generation turns) since start: the filter's cost beyond the lookups themselves.</summary>
    public long UpkeepWork { get; private set; }

    /// <summary>Keys dropped before their interval was over because more than the capacity arrived within one interval.</summary>
    public long Forgotten { get; private set; }

    /// <summary>Whether a new clone may be made for this key now; records it when so.</summary>
    public bool TryAdmit(uint source, ushort port, byte protocol)
    {
        if (_interval <= TimeSpan.Zero)
        {
            return true;
        }

        var now = _time.GetTimestamp();
        var key = (source, port, protocol);
        if ((_current.TryGetValue(key, out var last) || _previous.TryGetValue(key, out last)) && _time.GetElapsedTime(last, now) < _interval)
        {
            return false;
        }

        if (_current.Count >= _capacity || _time.GetElapsedTime(_currentStarted, now) >= _interval)
        {
            Turn(now);
        }

        _current[key] = now;
        return true;
    }

    /// <summary>The current generation becomes the previous one; the old previous one is cleared.</summary>
    private void Turn(long now)
    {
        foreach (var last in _previous.Values)
        {
            if (_time.GetElapsedTime(last, now) < _interval)
            {
                Forgotten++;
            }
        }

        UpkeepWork += _previous.Count;
        _previous.Clear();
        (_previous, _current) = (_current, _previous);
        _currentStarted = now;
    }
}
