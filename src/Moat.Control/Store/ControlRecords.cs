namespace Moat.Control.Store;

/// <summary>A client of the platform and the trust the administrator gives it (trusted, semi-trusted, untrusted).</summary>
public sealed record ClientRecord(string Name, string Trust, DateTimeOffset CreatedAt);

/// <summary>Who a key speaks for.</summary>
public enum KeyScope
{
    /// <summary>Acts on its client's own sandboxes only.</summary>
    Client,

    /// <summary>Acts on everything, including clients and keys.</summary>
    Admin,
}

/// <summary>An API key as stored: its id, the SHA-256 of the whole key (never the key), its client, scope and life.</summary>
public sealed record KeyRecord(string Id, string Client, KeyScope Scope, byte[] Hash, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>A sandbox handed out through the control plane: whose it is, where it lives and its last known state.</summary>
public sealed record SandboxRecord(
    string Id, string Client, string? Name, string Host, string Image, string Trust, string State, string? Tier, string? Address, bool Quarantined,
    DateTimeOffset CreatedAt);

/// <summary>One state-changing call: who, what, on what, when, and how it ended.</summary>
public sealed record AuditEntry(long Seq, DateTimeOffset At, string KeyId, string Client, string Action, string Target, int Status, string Outcome);
