using Moat.Host.Pool;
using Moat.Host.Sandboxes;

namespace Moat.Host.Api;

/// <summary>Body of POST /v1/sandboxes/{id}/exec.</summary>
public sealed record ExecRequest(IReadOnlyList<string> Command, IReadOnlyDictionary<string, string>? Env = null, double TimeoutSeconds = 60);

/// <summary>Result of a claim: the sandbox and whether it came warm from the pool.</summary>
public sealed record ClaimResponse(Sandbox Sandbox, bool FromPool, double ElapsedMs);

/// <summary>GET /v1/host: what this host is and holds.</summary>
public sealed record HostStatus(
    string Version,
    string Runtime,
    string StateDir,
    string AddressPool,
    string? HostNamespace,
    int Sandboxes,
    IReadOnlyList<PoolStatus> Pools,
    Agent.ReconcileReport LastReconcile)
{
    /// <summary>Each runtime tier and whether this host can run it (and why not).</summary>
    public IReadOnlyList<Runtime.TierAvailability> Tiers { get; init; } = [];

    /// <summary>What enforces network containment here (or why nothing does).</summary>
    public string Containment { get; init; } = "";

    /// <summary>Whether connections are being recorded, and where.</summary>
    public string FlowLog { get; init; } = "";

    /// <summary>Whether the policy's rates are enforced, and how.</summary>
    public string Shaping { get; init; } = "";

    /// <summary>Whether untrusted sandboxes get tunnels to their clients, from which address, how many are open.</summary>
    public string Tunnels { get; init; } = "";

    /// <summary>Kernel, OS, CPU model and runtime versions: what relocation's placement compares between hosts.</summary>
    public Agent.HostFeatures? Features { get; init; }
}

/// <summary>Body of POST /v1/sandboxes/{id}/interactive: the command line the CLI runs to attach a terminal.</summary>
public sealed record InteractiveRequest(IReadOnlyList<string> Command, bool Tty);
