namespace Moat.Detect.Detectors;

/// <summary>A dictionary that forgets its oldest half when full, so hostile traffic cannot grow detector state without bound.</summary>
internal sealed class BoundedTable<TKey, TValue>(int capacity, Func<TKey, TValue> create)
    where TKey : notnull
{
    private readonly Dictionary<TKey, (TValue Value, long Touched)> _entries = [];
    private long _clock;

    internal int Count => _entries.Count;

    internal TValue Get(TKey key)
    {
        _clock++;
        if (_entries.TryGetValue(key, out var entry))
        {
            _entries[key] = (entry.Value, _clock);
            return entry.Value;
        }

        if (_entries.Count >= capacity)
        {
            Evict();
        }

        var value = create(key);
        _entries[key] = (value, _clock);
        return value;
    }

    internal bool TryGet(TKey key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    internal void Remove(TKey key) => _entries.Remove(key);

    private void Evict()
    {
        var cutoff = _entries.Values.Select(e => e.Touched).Order().ElementAt(_entries.Count / 2);
        foreach (var (key, entry) in _entries)
        {
            if (entry.Touched <= cutoff)
            {
                _entries.Remove(key);
            }
        }
    }
}
