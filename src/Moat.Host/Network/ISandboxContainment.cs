using Moat.Host.Sandboxes;

namespace Moat.Host.Network;

/// <summary>
/// Network containment as the sandbox lifecycle sees it: a sandbox's rules go in force when it gets its identity
/// (address and client) and go when it is destroyed; at agent start the rules are reconciled with the store.
/// </summary>
public interface ISandboxContainment
{
    /// <summary>One phrase for `moat host status`: what enforces containment on this host.</summary>
    string Mechanism { get; }

    /// <summary>Puts the sandbox's rules (and rates) in force, replacing earlier ones; returns the trust level it got.</summary>
    Task<string> AdmitAsync(Sandbox sandbox, CancellationToken cancellationToken = default);

    Task ForgetAsync(Sandbox sandbox, CancellationToken cancellationToken = default);

    /// <summary>Rules for exactly these sandboxes; chains of sandboxes that no longer exist are removed.</summary>
    Task ReconcileAsync(IEnumerable<Sandbox> live, CancellationToken cancellationToken = default);

    /// <summary>The sandbox's tunnel to its client, or null when it has none (not untrusted, no client address, or
    /// this host opens no tunnels).</summary>
    SandboxTunnel? TunnelOf(Sandbox sandbox) => null;

    /// <summary>One sentence saying why <paramref name="address"/> may not be <paramref name="client"/>'s address on
    /// this host (its own addresses, its LAN unless the policy binds it, the fixed deny set), or null when it may.</summary>
    string? ClientAddressRefusal(string client, System.Net.IPAddress address) => null;

    /// <summary>Whether the administrator's policy binds <paramref name="address"/> to <paramref name="client"/>.</summary>
    bool Binds(string client, System.Net.IPAddress address) => false;

    /// <summary>What <paramref name="client"/> may hold at once at this trust level: the policy's quota, or the default.</summary>
    Moat.Containment.Policy.ClientQuota QuotaOf(string client, string trust) =>
        Moat.Containment.Policy.ClientQuota.DefaultFor(Moat.Containment.Trust.TrustLevels.TryParse(trust, out var level) ? level : Moat.Containment.Trust.TrustLevel.Untrusted);
}

/// <summary>No containment configured: sandboxes reach their host and nothing beyond it (no forwarding).</summary>
public sealed class NoContainment : ISandboxContainment
{
    public static NoContainment Instance { get; } = new();

    public string Mechanism => "none (no policy file: sandboxes reach their host only, nothing is forwarded)";

    public Task<string> AdmitAsync(Sandbox sandbox, CancellationToken cancellationToken = default) => Task.FromResult("none");

    public Task ForgetAsync(Sandbox sandbox, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task ReconcileAsync(IEnumerable<Sandbox> live, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
