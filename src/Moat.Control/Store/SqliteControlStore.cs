using Microsoft.Data.Sqlite;

namespace Moat.Control.Store;

/// <summary>The embedded control store: one SQLite file in WAL mode, schema brought forward by <see cref="ControlMigrations"/>.</summary>
public sealed class SqliteControlStore : IControlStore
{
    private readonly SqliteConnection connection;
    private readonly SemaphoreSlim gate = new(1, 1);

    private SqliteControlStore(SqliteConnection connection)
    {
        this.connection = connection;
    }

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/> and applies the migrations it lacks.</summary>
    public static async Task<SqliteControlStore> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        var store = new SqliteControlStore(connection);
        try
        {
            await store.ExecAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;", cancellationToken).ConfigureAwait(false);
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await ExecAsync("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied INTEGER NOT NULL);",
            cancellationToken).ConfigureAwait(false);
        int current = await SchemaVersionAsync(cancellationToken).ConfigureAwait(false);
        if (current > ControlMigrations.Latest)
        {
            throw new ControlException(
                $"the control store is at schema version {current}, newer than this build's {ControlMigrations.Latest}; run the newer 'moat control' it was written by.");
        }

        foreach (var m in ControlMigrations.Sqlite.Where(m => m.Version > current))
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var step = Command(m.Sql))
            {
                step.Transaction = tx;
                await step.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using (var record = Command("INSERT INTO schema_migrations (version, description, applied) VALUES ($v, $d, $a)",
                ("$v", m.Version), ("$d", m.Description), ("$a", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())))
            {
                record.Transaction = tx;
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<int> SchemaVersionAsync(CancellationToken cancellationToken = default) =>
        Convert.ToInt32(await ScalarAsync("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", cancellationToken).ConfigureAwait(false),
            System.Globalization.CultureInfo.InvariantCulture);

    public async Task<bool> AddClientAsync(ClientRecord client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return await ChangeAsync("INSERT OR IGNORE INTO clients (name, trust, created) VALUES ($n, $t, $c)", cancellationToken,
            ("$n", client.Name), ("$t", client.Trust), ("$c", client.CreatedAt.ToUnixTimeMilliseconds())).ConfigureAwait(false) == 1;
    }

    public async Task<ClientRecord?> GetClientAsync(string name, CancellationToken cancellationToken = default) =>
        (await QueryAsync("SELECT name, trust, created FROM clients WHERE name = $n", ReadClient, cancellationToken, ("$n", name)).ConfigureAwait(false))
        .FirstOrDefault();

    public Task<IReadOnlyList<ClientRecord>> ListClientsAsync(CancellationToken cancellationToken = default) =>
        QueryAsync("SELECT name, trust, created FROM clients ORDER BY name", ReadClient, cancellationToken);

    public async Task<bool> SetTrustAsync(string name, string trust, CancellationToken cancellationToken = default) =>
        await ChangeAsync("UPDATE clients SET trust = $t WHERE name = $n", cancellationToken, ("$n", name), ("$t", trust)).ConfigureAwait(false) == 1;

    public async Task AddKeyAsync(KeyRecord key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        await ChangeAsync("INSERT INTO api_keys (id, client, scope, hash, created, expires, revoked) VALUES ($i, $c, $s, $h, $cr, $e, $r)", cancellationToken,
            ("$i", key.Id), ("$c", key.Client), ("$s", key.Scope.ToString().ToLowerInvariant()), ("$h", key.Hash), ("$cr", key.CreatedAt.ToUnixTimeMilliseconds()),
            ("$e", key.ExpiresAt?.ToUnixTimeMilliseconds()), ("$r", key.RevokedAt?.ToUnixTimeMilliseconds())).ConfigureAwait(false);
    }

    public async Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryAsync("SELECT id, client, scope, hash, created, expires, revoked FROM api_keys WHERE id = $i", ReadKey, cancellationToken, ("$i", id))
            .ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(CancellationToken cancellationToken = default) =>
        QueryAsync("SELECT id, client, scope, hash, created, expires, revoked FROM api_keys ORDER BY created, id", ReadKey, cancellationToken);

    public async Task<bool> RevokeKeyAsync(string id, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        await ChangeAsync("UPDATE api_keys SET revoked = COALESCE(revoked, $r) WHERE id = $i", cancellationToken, ("$i", id), ("$r", at.ToUnixTimeMilliseconds()))
            .ConfigureAwait(false) == 1;

    public async Task<bool> AddSandboxAsync(SandboxRecord sandbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        return await ChangeAsync("""
            INSERT OR IGNORE INTO sandboxes (id, client, name, host, image, trust, state, tier, address, quarantined, created)
            VALUES ($i, $c, $n, $h, $im, $t, $s, $ti, $a, $q, $cr)
            """, cancellationToken, SandboxParameters(sandbox)).ConfigureAwait(false) == 1;
    }

    public async Task<SandboxRecord?> GetSandboxAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryAsync($"{SelectSandbox} WHERE id = $i", ReadSandbox, cancellationToken, ("$i", id)).ConfigureAwait(false)).FirstOrDefault();

    public async Task<SandboxRecord?> FindSandboxByNameAsync(string client, string name, CancellationToken cancellationToken = default) =>
        (await QueryAsync($"{SelectSandbox} WHERE client = $c AND name = $n", ReadSandbox, cancellationToken, ("$c", client), ("$n", name)).ConfigureAwait(false))
        .FirstOrDefault();

    public Task<IReadOnlyList<SandboxRecord>> ListSandboxesAsync(string? client, CancellationToken cancellationToken = default) =>
        client is null
            ? QueryAsync($"{SelectSandbox} ORDER BY created, id", ReadSandbox, cancellationToken)
            : QueryAsync($"{SelectSandbox} WHERE client = $c ORDER BY created, id", ReadSandbox, cancellationToken, ("$c", client));

    public async Task UpdateSandboxAsync(SandboxRecord sandbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        await ChangeAsync("""
            UPDATE sandboxes SET host = $h, image = $im, trust = $t, state = $s, tier = $ti, address = $a, quarantined = $q WHERE id = $i
            """, cancellationToken, SandboxParameters(sandbox)).ConfigureAwait(false);
    }

    public async Task RemoveSandboxAsync(string id, CancellationToken cancellationToken = default) =>
        await ChangeAsync("DELETE FROM sandboxes WHERE id = $i", cancellationToken, ("$i", id)).ConfigureAwait(false);

    public async Task AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await ChangeAsync("INSERT INTO audit (at, key_id, client, action, target, status, outcome) VALUES ($at, $k, $c, $a, $t, $s, $o)", cancellationToken,
            ("$at", entry.At.ToUnixTimeMilliseconds()), ("$k", entry.KeyId), ("$c", entry.Client), ("$a", entry.Action), ("$t", entry.Target),
            ("$s", entry.Status), ("$o", entry.Outcome)).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<AuditEntry>> ListAuditAsync(long afterSeq, int limit, CancellationToken cancellationToken = default) =>
        QueryAsync("SELECT seq, at, key_id, client, action, target, status, outcome FROM audit WHERE seq > $s ORDER BY seq LIMIT $l",
            r => new AuditEntry(r.GetInt64(0), Time(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6), r.GetString(7)),
            cancellationToken, ("$s", afterSeq), ("$l", limit));

    public async ValueTask DisposeAsync()
    {
        await connection.DisposeAsync().ConfigureAwait(false);
        gate.Dispose();
    }

    private const string SelectSandbox = "SELECT id, client, name, host, image, trust, state, tier, address, quarantined, created FROM sandboxes";

    private static (string, object?)[] SandboxParameters(SandboxRecord s) =>
    [
        ("$i", s.Id), ("$c", s.Client), ("$n", s.Name), ("$h", s.Host), ("$im", s.Image), ("$t", s.Trust), ("$s", s.State), ("$ti", s.Tier),
        ("$a", s.Address), ("$q", s.Quarantined ? 1 : 0), ("$cr", s.CreatedAt.ToUnixTimeMilliseconds()),
    ];

    private static ClientRecord ReadClient(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), Time(r.GetInt64(2)));

    private static KeyRecord ReadKey(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2) == "admin" ? KeyScope.Admin : KeyScope.Client, (byte[])r.GetValue(3), Time(r.GetInt64(4)),
        r.IsDBNull(5) ? null : Time(r.GetInt64(5)), r.IsDBNull(6) ? null : Time(r.GetInt64(6)));

    private static SandboxRecord ReadSandbox(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6),
        r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetInt64(9) != 0, Time(r.GetInt64(10)));

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var c = connection.CreateCommand();
        c.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            c.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return c;
    }

    private async Task ExecAsync(string sql, CancellationToken cancellationToken)
    {
        await using var c = Command(sql);
        await c.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<object?> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var c = Command(sql);
            return await c.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<int> ChangeAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var c = Command(sql, parameters);
            return await c.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, Func<SqliteDataReader, T> read, CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var c = Command(sql, parameters);
            await using var r = await c.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var list = new List<T>();
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                list.Add(read(r));
            }

            return list;
        }
        finally
        {
            gate.Release();
        }
    }
}
