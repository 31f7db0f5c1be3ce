using Moat.Host.Sandboxes;

namespace Moat.Host.Watch;

/// <summary>
/// Cuts a sandbox off the network while keeping it (processes, files) for post-mortem, and undoes that. Network
/// containment's nftables quarantine implements it when it is wired into the agent; until then
/// <see cref="LinkQuarantine"/> does.
/// </summary>
public interface ISandboxQuarantine
{
    /// <summary>One phrase saying how the sandbox is cut off, kept in the response record.</summary>
    string Mechanism { get; }

    Task QuarantineAsync(Sandbox sandbox, CancellationToken cancellationToken = default);

    Task ReleaseAsync(Sandbox sandbox, CancellationToken cancellationToken = default);
}

/// <summary>Slows a sandbox's traffic down (the response policy's "throttle"); network containment implements it (a
/// rate limit at the head of the sandbox's nftables chain).</summary>
public interface ISandboxThrottle
{
    /// <summary>One phrase saying how and to what rate, kept in the response record.</summary>
    string Mechanism { get; }

    Task ThrottleAsync(Sandbox sandbox, CancellationToken cancellationToken = default);

    Task ReleaseAsync(Sandbox sandbox, CancellationToken cancellationToken = default);
}
