namespace Moat.Control.Store;

/// <summary>
/// What the control plane keeps: clients, API keys (hashed), sandboxes and the audit log. SQLite is the embedded
/// default (<see cref="SqliteControlStore"/>); an implementation for several replicas on one database (PostgreSQL)
/// implements the same calls and applies <see cref="ControlMigrations"/> in its own dialect.
/// </summary>
public interface IControlStore : IAsyncDisposable
{
    /// <summary>The schema version the store is at (the highest migration applied).</summary>
    Task<int> SchemaVersionAsync(CancellationToken cancellationToken = default);

    /// <summary>Adds a client; false when the name is taken.</summary>
    Task<bool> AddClientAsync(ClientRecord client, CancellationToken cancellationToken = default);

    Task<ClientRecord?> GetClientAsync(string name, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<ClientRecord>> ListClientsAsync(CancellationToken cancellationToken = default);

    /// <summary>Sets a client's trust; false when there is no such client.</summary>
    Task<bool> SetTrustAsync(string name, string trust, CancellationToken cancellationToken = default);

    Task AddKeyAsync(KeyRecord key, CancellationToken cancellationToken = default);

    Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<KeyRecord>> ListKeysAsync(CancellationToken cancellationToken = default);

    /// <summary>Revokes a key (once; a second revocation keeps the first time); false when there is no such key.</summary>
    Task<bool> RevokeKeyAsync(string id, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Adds a sandbox; false when its client already has one of that name.</summary>
    Task<bool> AddSandboxAsync(SandboxRecord sandbox, CancellationToken cancellationToken = default);

    Task<SandboxRecord?> GetSandboxAsync(string id, CancellationToken cancellationToken = default);

    Task<SandboxRecord?> FindSandboxByNameAsync(string client, string name, CancellationToken cancellationToken = default);

    /// <summary>Sandboxes of one client, or of all (null), oldest first.</summary>
    Task<IReadOnlyList<SandboxRecord>> ListSandboxesAsync(string? client, CancellationToken cancellationToken = default);

    Task UpdateSandboxAsync(SandboxRecord sandbox, CancellationToken cancellationToken = default);

    Task RemoveSandboxAsync(string id, CancellationToken cancellationToken = default);

    Task AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Audit entries after <paramref name="afterSeq"/>, oldest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<AuditEntry>> ListAuditAsync(long afterSeq, int limit, CancellationToken cancellationToken = default);
}
