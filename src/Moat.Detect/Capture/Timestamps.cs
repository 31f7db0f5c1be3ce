namespace Moat.Detect.Capture;

/// <summary>Converts capture timestamps (a count of 1/unitsPerSecond since the epoch) without overflow.</summary>
internal static class Timestamps
{
    private const long MaxUnixSeconds = 253_402_300_799; // 9999-12-31, the last second DateTimeOffset holds

    internal static bool TryFromUnits(ulong value, ulong unitsPerSecond, out DateTimeOffset timestamp)
    {
        ulong seconds = value / unitsPerSecond;
        ulong fraction = value % unitsPerSecond;
        if (seconds > MaxUnixSeconds)
        {
            timestamp = default;
            return false;
        }

        long ticks = (long)((UInt128)fraction * TimeSpan.TicksPerSecond / unitsPerSecond);
        timestamp = DateTimeOffset.UnixEpoch.AddTicks(((long)seconds * TimeSpan.TicksPerSecond) + ticks);
        return true;
    }
}
