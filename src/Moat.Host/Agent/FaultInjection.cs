namespace Moat.Host.Agent;

/// <summary>
/// Named crash points for tests of crash recovery: when MOAT_CRASH_AT names a point, the process kills itself with
/// SIGKILL there — the same as an operator's `kill -9` at exactly that moment, without timing games.
/// </summary>
internal static class FaultInjection
{
    private static readonly string? CrashAt = Environment.GetEnvironmentVariable("MOAT_CRASH_AT");

    public static void Checkpoint(string point)
    {
        if (CrashAt is not null && string.Equals(CrashAt, point, StringComparison.Ordinal))
        {
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        }
    }
}
