namespace Moat.Mtd.Placement;

/// <summary>Isolation tier a host runs sandboxes with; part of the host configuration feature C.</summary>
public enum RuntimeTier
{
    /// <summary>runc/crun containers.</summary>
    Container,

    /// <summary>runsc (gVisor) user-space kernel.</summary>
    Gvisor,

    /// <summary>Virtual machines.</summary>
    Vm,
}

/// <summary>Feature C: what an exploit against the host's software stack depends on.</summary>
/// <param name="Tier">The sandbox runtime tier.</param>
/// <param name="Kernel">The host kernel release, e.g. "6.18".</param>
/// <param name="OsImage">The host's OS image, e.g. "debian-12".</param>
public sealed record HostConfiguration(RuntimeTier Tier, string Kernel, string OsImage)
{
    /// <summary>The CPU model (microarchitectural attacks are written against one), when the host published it.</summary>
    public string? Cpu { get; init; }

    /// <summary>The sandbox runtime and its version (container escapes are written against one), when published.</summary>
    public string? Runtime { get; init; }
}

/// <summary>Feature N: where the host sits on the network, which is what an attacker maps addresses to.</summary>
/// <param name="Segment">The L2/L3 segment (rack, subnet) the host is on.</param>
/// <param name="Uplink">The uplink or provider the segment leaves through.</param>
public sealed record NetworkLocation(string Segment, string Uplink);

/// <summary>A surrogate host as the placement policy sees it.</summary>
/// <param name="Id">Host identity.</param>
/// <param name="Configuration">Feature C.</param>
/// <param name="Network">Feature N.</param>
/// <param name="Services">Feature S: the services/images the host already runs.</param>
/// <param name="Capacity">Sandbox slots on the host.</param>
/// <param name="Used">Slots taken.</param>
/// <param name="Tenants">Tenants with at least one sandbox on the host.</param>
public sealed record HostInfo(
    string Id,
    HostConfiguration Configuration,
    NetworkLocation Network,
    IReadOnlySet<string> Services,
    int Capacity,
    int Used,
    IReadOnlySet<string> Tenants)
{
    /// <summary>Slots still free.</summary>
    public int Free => Capacity - Used;
}

/// <summary>The sandbox to move.</summary>
/// <param name="Id">Sandbox identity.</param>
/// <param name="Tenant">Its tenant.</param>
/// <param name="HostId">The host it is on now (the source).</param>
/// <param name="Slots">Slots it needs on the destination.</param>
/// <param name="PreviousHostIds">Hosts it ran on before the source (most recent last); heterogeneity is kept from these too.</param>
public sealed record SandboxInfo(string Id, string Tenant, string HostId, int Slots = 1, IReadOnlyList<string>? PreviousHostIds = null);

/// <summary>What a destination must satisfy besides capacity and not being the source.</summary>
/// <param name="AntiAffinityTenants">Tenants whose sandboxes must not be on the destination.</param>
/// <param name="AvoidHostIds">Hosts that must not be chosen (e.g. the host of a suspect).</param>
public sealed record PlacementConstraints(IReadOnlySet<string> AntiAffinityTenants, IReadOnlySet<string> AvoidHostIds)
{
    /// <summary>No constraint beyond capacity and never the source.</summary>
    public static PlacementConstraints None { get; } = new(
        new HashSet<string>(StringComparer.Ordinal), new HashSet<string>(StringComparer.Ordinal));

    /// <summary>Keeps the victim away from a suspect: not on the suspect's host, not beside the suspect's tenant.</summary>
    public static PlacementConstraints AwayFrom(string? suspectTenant, string? suspectHostId) => new(
        suspectTenant is null ? new HashSet<string>(StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal) { suspectTenant },
        suspectHostId is null ? new HashSet<string>(StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal) { suspectHostId });
}

/// <summary>The outcome of a destination choice: a host and why, or no host and why not.</summary>
/// <param name="Host">The destination, or null when none qualifies.</param>
/// <param name="Outcome">Which case it is.</param>
/// <param name="Reason">One sentence for logs and the operator.</param>
/// <param name="Heterogeneity">Δ between source and destination (0 when no destination).</param>
public sealed record PlacementDecision(HostInfo? Host, PlacementOutcome Outcome, string Reason, double Heterogeneity);

/// <summary>Whether a destination was found, and if not, which constraint ruled every host out.</summary>
public enum PlacementOutcome
{
    /// <summary>A destination was chosen.</summary>
    Chosen,

    /// <summary>The source host is not in the host list.</summary>
    UnknownSource,

    /// <summary>No host other than the source.</summary>
    NoOtherHost,

    /// <summary>Every other host is full.</summary>
    NoCapacity,

    /// <summary>Hosts with room exist but anti-affinity or avoid-lists exclude them.</summary>
    Excluded,

    /// <summary>The source host has spent its move budget for the hour; the sandbox waits.</summary>
    OverBudget,
}
