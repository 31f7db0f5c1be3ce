using Moat.Linux.Namespaces;

namespace Moat.Containment.Shaping;

/// <summary>Host-wide shaping settings: the uplinks whose bandwidth sandboxes and the host share, and how.</summary>
public sealed record ShapingOptions
{
    /// <summary>The devices sandbox traffic leaves the host by, each with its real bandwidth.</summary>
    public required IReadOnlyList<UplinkShaping> Uplinks { get; init; }

    /// <summary>Fraction of each uplink guaranteed to the host's own traffic (the rest is the sandboxes' pool; either borrows what the other leaves idle).</summary>
    public double HostShare { get; init; } = 0.5;

    /// <summary>
    /// What each sandbox is guaranteed on an uplink before sharing what is spare equally with the others. Keep
    /// sandboxes x this within the pool, or the guarantees overbook it.
    /// </summary>
    public BitRate SandboxGuaranteed { get; init; } = BitRate.Parse("1mbit");

    /// <summary>The nftables table (family inet) that holds the classification chains.</summary>
    public string TableName { get; init; } = "moat-shaping";

    /// <summary>The network namespace the host devices live in; null for the caller's own.</summary>
    public NetworkNamespace? Namespace { get; init; }
}

/// <summary>An uplink device and its bandwidth (what the HTB tree on its egress shares out).</summary>
public sealed record UplinkShaping(string Device, BitRate Bandwidth);
