namespace Moat.Detect.Flows;

/// <summary>How the offline flow tracker decides a connection attempt failed and when it forgets a flow.</summary>
public sealed record FlowTrackerOptions
{
    public static FlowTrackerOptions Default { get; } = new();

    /// <summary>No answer within this time is a failed attempt; 5 s is Zeek's tcp_attempt_delay.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A flow with no packet for this long is forgotten (a new SYN then starts a new flow).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Bound on tracked flows; beyond it new flows are reported as packets only.</summary>
    public int MaxFlows { get; init; } = 1_000_000;

    /// <summary>Emit a <see cref="FlowEventKind.Packet"/> event per packet (the flood and probe detectors need them).</summary>
    public bool EmitPackets { get; init; } = true;
}
