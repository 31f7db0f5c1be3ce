namespace Moat.Host.Watch.Throttle;

/// <summary>
/// The data-path scan throttle's budget per sandbox (Williamson's virus throttle, Weaver's scan suppression): new
/// contacts (destination address and port not contacted within <see cref="ContactLifetime"/>) pass up to a burst and
/// then at a rate; once failures (RSTs and ICMP unreachables answering the sandbox's own flows) pass their burst, every
/// new contact is dropped for <see cref="BlockFor"/>, while contacts already made keep working.
/// </summary>
public sealed record ScanThrottleOptions
{
    public static ScanThrottleOptions Default { get; } = new();

    /// <summary>New contacts that pass at once (a browser's page load opens a few dozen connections to a handful of hosts).</summary>
    public uint NewContactBurst { get; init; } = 16;

    /// <summary>New contacts per second after the burst; beyond it they are dropped (TCP retries its SYN a second later).</summary>
    public ulong NewContactsPerSecond { get; init; } = 2;

    /// <summary>How long a contacted (address, port) stays known, so later connections to it never count.</summary>
    public TimeSpan ContactLifetime { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Failed contacts that pass unremarked; the next one blocks new contacts.</summary>
    public uint FailureBurst { get; init; } = 4;

    /// <summary>Failures per minute forgiven after the burst.</summary>
    public ulong FailuresPerMinute { get; init; } = 6;

    /// <summary>How long new contacts stay blocked after the failure threshold, refreshed by every further failure.</summary>
    public TimeSpan BlockFor { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Bound on known contacts per sandbox (the kernel set's size): a sandbox's state never grows beyond it.</summary>
    public uint MaxContactsPerSandbox { get; init; } = 4096;
}
