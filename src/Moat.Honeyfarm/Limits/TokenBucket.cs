namespace Moat.Honeyfarm.Limits;

/// <summary>
/// A token bucket on an injected clock: <c>rate</c> tokens a second up to <c>burst</c>, one taken per event. A struct so
/// that an array of them is a fixed block of memory; not thread-safe (its owner locks).
/// </summary>
internal struct TokenBucket
{
    private double _tokens;
    private long _last;
    private bool _started;

    /// <summary>Takes one token when there is one; refills first from the time since the last call.</summary>
    public bool TryTake(double rate, double burst, long now, TimeProvider time)
    {
        if (!_started)
        {
            _tokens = burst;
            _started = true;
        }
        else
        {
            _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * rate));
        }

        _last = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
