using Moat.Control.Store;

namespace Moat.Control.Api;

/// <summary>POST /v1/sandboxes: what to hand out. Everything is optional; the placement picks the host.</summary>
/// <param name="Name">A name unique among the client's sandboxes (not starting with "sb-").</param>
/// <param name="Image">Image name on the hosts (default busybox).</param>
/// <param name="MemoryMb">Memory limit in MiB (default 256).</param>
/// <param name="Cpus">CPU share in cores (default 1).</param>
/// <param name="Pool">Take a warm sandbox from a pool when one fits (default true); false makes a fresh one.</param>
/// <param name="Tier">A runtime tier at least as strong as the client's trust gives (container, gvisor).</param>
/// <param name="Client">Administrators only: the client the sandbox is handed to (default: the key's own client).</param>
public sealed record ClaimRequest(string? Name = null, string? Image = null, long? MemoryMb = null, double? Cpus = null, bool? Pool = null, string? Tier = null,
    string? Client = null);

/// <summary>A sandbox as the API shows it.</summary>
public sealed record SandboxView(
    string Id, string? Name, string Client, string Host, string Image, string Trust, string? Tier, string State, string? Address, bool Quarantined,
    DateTimeOffset CreatedAt)
{
    public static SandboxView Of(SandboxRecord r) => new(r.Id, r.Name, r.Client, r.Host, r.Image, r.Trust, r.Tier, r.State, r.Address, r.Quarantined, r.CreatedAt);
}

/// <summary>Answer to a claim: the sandbox, whether it came from a warm pool, and how long the control plane took.</summary>
public sealed record ClaimView(SandboxView Sandbox, bool FromPool, double ElapsedMs, double HostElapsedMs);

/// <summary>POST /v1/sandboxes/{ref}/exec. The output comes back whole when the command ends (the fabric does not stream it).</summary>
public sealed record ExecRequest(IReadOnlyList<string> Command, double? TimeoutSeconds = null);

public sealed record ExecView(int ExitCode, string Stdout, string Stderr);

/// <summary>A host as its presence on the fabric describes it.</summary>
public sealed record HostView(string Jid, int Sandboxes, int PoolReady, int PoolTarget, long FreeMemoryMb, string Version);

/// <summary>POST /v1/clients.</summary>
public sealed record ClientRequest(string Name, string Trust);

/// <summary>PUT /v1/clients/{name}.</summary>
public sealed record TrustRequest(string Trust);

public sealed record ClientView(string Name, string Trust, DateTimeOffset CreatedAt);

/// <summary>POST /v1/keys: a key for a client; <paramref name="ExpiresInDays"/> null = no expiry.</summary>
public sealed record KeyRequest(string Client, bool Admin = false, double? ExpiresInDays = null);

/// <summary>A key as listed (never its secret).</summary>
public sealed record KeyView(string Id, string Client, string Scope, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>A key just made: <see cref="Key"/> is shown this once and stored only as a hash.</summary>
public sealed record NewKeyView(string Id, string Client, string Scope, DateTimeOffset? ExpiresAt, string Key);

/// <summary>The caller, as its key says.</summary>
public sealed record WhoAmI(string KeyId, string Client, string Scope, string? Trust);

public sealed record QuarantineView(string Id, bool Quarantined);
