namespace Moat.Honeyfarm.Gateway;

/// <summary>
/// Potemkin's scan filter: at most one new clone per (source, destination port, protocol) per interval, so a
/// horizontal scan of the range binds one address instead of every address it touches.
/// </summary>
internal sealed class ScanFilter(TimeSpan interval, TimeProvider time)
{
    private readonly Dictionary<(uint Source, ushort Port, byte Protocol), long> _lastClone = [];

    /// <summary>Whether a new clone may be made for this key now; records it when so.</summary>
    public bool TryAdmit(uint source, ushort port, byte protocol)
    {
        if (interval <= TimeSpan.Zero)
        {
            return true;
        }

        var now = time.GetTimestamp();
        var key = (source, port, protocol);
        if (_lastClone.TryGetValue(key, out var last) && time.GetElapsedTime(last, now) < interval)
        {
            return false;
        }

        _lastClone[key] = now;
        if (_lastClone.Count > 65536)
        {
            Prune(now);
        }

        return true;
    }

    private void Prune(long now)
    {
        foreach (var (key, last) in _lastClone.ToArray())
        {
            if (time.GetElapsedTime(last, now) >= interval)
            {
                _lastClone.Remove(key);
            }
        }
    }
}
