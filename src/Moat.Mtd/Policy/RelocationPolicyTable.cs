using System.Collections.Immutable;

namespace Moat.Mtd.Policy;

/// <summary>Which relocation policy applies to a sandbox: its own if set, else its tenant's, else the default.</summary>
public sealed record RelocationPolicyTable
{
    /// <summary>A table where every sandbox stays put.</summary>
    public static RelocationPolicyTable Empty { get; } = new(RelocationPolicy.Off);

    /// <summary>Creates a table with a default for sandboxes and tenants that have no entry.</summary>
    public RelocationPolicyTable(RelocationPolicy defaultPolicy)
    {
        ArgumentNullException.ThrowIfNull(defaultPolicy);
        Default = defaultPolicy;
    }

    /// <summary>The policy of sandboxes whose tenant has none.</summary>
    public RelocationPolicy Default { get; init; }

    /// <summary>Per-tenant policies.</summary>
    public ImmutableDictionary<string, RelocationPolicy> Tenants { get; init; } = ImmutableDictionary.Create<string, RelocationPolicy>(StringComparer.Ordinal);

    /// <summary>Per-sandbox overrides.</summary>
    public ImmutableDictionary<string, RelocationPolicy> Sandboxes { get; init; } = ImmutableDictionary.Create<string, RelocationPolicy>(StringComparer.Ordinal);

    /// <summary>This table with <paramref name="policy"/> for every sandbox of <paramref name="tenant"/>.</summary>
    public RelocationPolicyTable WithTenant(string tenant, RelocationPolicy policy)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(policy);
        return this with { Tenants = Tenants.SetItem(tenant, policy) };
    }

    /// <summary>This table with <paramref name="policy"/> for one sandbox, whatever its tenant's policy.</summary>
    public RelocationPolicyTable WithSandbox(string sandboxId, RelocationPolicy policy)
    {
        ArgumentException.ThrowIfNullOrEmpty(sandboxId);
        ArgumentNullException.ThrowIfNull(policy);
        return this with { Sandboxes = Sandboxes.SetItem(sandboxId, policy) };
    }

    /// <summary>The policy for a sandbox of a tenant.</summary>
    public RelocationPolicy Resolve(string sandboxId, string tenant) =>
        Sandboxes.TryGetValue(sandboxId, out var own) ? own
        : Tenants.TryGetValue(tenant, out var shared) ? shared
        : Default;
}
