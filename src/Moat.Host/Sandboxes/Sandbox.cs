namespace Moat.Host.Sandboxes;

/// <summary>A sandbox as the store holds it: identity, the names of every kernel object it owns, and its state.</summary>
public sealed record Sandbox
{
    public required string Id { get; init; }

    public string? Name { get; init; }

    public required SandboxSpec Spec { get; init; }

    /// <summary>Digest of the image whose root file system is the overlay's lower layer.</summary>
    public required string ImageDigest { get; init; }

    public required SandboxState State { get; init; }

    /// <summary>The sandbox's routed /32 address; null while it sits unclaimed in the warm pool.</summary>
    public string? Address { get; init; }

    /// <summary>Set while the sandbox sits in the warm pool, unclaimed, for this image reference.</summary>
    public string? PoolImage { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public int? ExitCode { get; init; }

    /// <summary>The runtime tier the agent chose; a sandbox keeps it for its whole life.</summary>
    public RuntimeTier Tier { get; init; } = RuntimeTier.Container;

    /// <summary>Name of the network namespace (under /run/netns).</summary>
    public string Netns => "moat-" + Id;

    /// <summary>Host end of the veth pair; at most 15 characters, as the kernel requires.</summary>
    public string HostInterface => "mh" + Id;

    /// <summary>cgroup path in every v1 hierarchy (and relative to the cgroup2 root on a v2 host).</summary>
    public string CgroupPath => "/moat/" + Id;

    public string DisplayName => Name ?? Id;
}
