using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Moat.Host.Sandboxes;

namespace Moat.Host.Store;

/// <summary>
/// The host agent's durable state: one SQLite file in the state folder. Every change to a sandbox is written here
/// before the kernel objects it names are made or removed, so a restart can always tell what exists and why.
/// </summary>
public sealed class HostStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _connectionString;
    private long _rowsRead;

    public HostStore(string databasePath)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS sandboxes (
                id TEXT PRIMARY KEY,
                name TEXT UNIQUE,
                spec TEXT NOT NULL,
                image_digest TEXT NOT NULL,
                state TEXT NOT NULL,
                address TEXT UNIQUE,
                pool_image TEXT,
                created_at TEXT NOT NULL,
                started_at TEXT,
                exit_code INTEGER
            );
            CREATE INDEX IF NOT EXISTS sandboxes_pool ON sandboxes(pool_image) WHERE pool_image IS NOT NULL;
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """);
        MigrateTierColumn(c);
        MigrateClientUsage(c);
    }

    public void Insert(Sandbox s)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO sandboxes (id, name, spec, image_digest, state, address, pool_image, created_at, started_at, exit_code, tier, client_key, memory_bytes)
            VALUES ($id, $name, $spec, $digest, $state, $address, $pool, $created, $started, $exit, $tier, $client_key, $memory)
            """;
        Bind(cmd, s);
        try
        {
            cmd.ExecuteNonQuery();
            Changed?.Invoke(s.Id);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            if (s.Name is not null && e.Message.Contains("name", StringComparison.Ordinal))
            {
                throw new InvalidRequestException($"a sandbox named '{s.Name}' already exists; choose another name or remove it first.");
            }

            throw new MoatHostException($"sandbox {s.Id} conflicts with a stored one: {e.Message}", e);
        }
    }

    public void Update(Sandbox s)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            UPDATE sandboxes SET name = $name, spec = $spec, image_digest = $digest, state = $state, address = $address,
                pool_image = $pool, created_at = $created, started_at = $started, exit_code = $exit, tier = $tier,
                client_key = $client_key, memory_bytes = $memory
            WHERE id = $id
            """;
        Bind(cmd, s);
        if (cmd.ExecuteNonQuery() != 1)
        {
            throw new MoatHostException($"sandbox {s.Id} is not in the store.");
        }

        Changed?.Invoke(s.Id);
    }

    public void Delete(string id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM sandboxes WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.ExecuteNonQuery();
        Changed?.Invoke(id);
    }

    /// <summary>Sandbox rows this store has read and decoded since it was opened: a figure for tests and benchmarks
    /// that check a per-sandbox step does not read every sandbox.</summary>
    public long RowsRead => Interlocked.Read(ref _rowsRead);

    /// <summary>Follows the sandboxes that change from now on (see <see cref="SandboxChanges"/>).</summary>
    public SandboxChanges Track() => new(this);

    /// <summary>Raised after a sandbox's row was inserted, updated or deleted, with its id.</summary>
    internal event Action<string>? Changed;

    public Sandbox? Get(string id) => Query("SELECT * FROM sandboxes WHERE id = $p", id).FirstOrDefault();

    /// <summary>Finds a sandbox by exact name, exact id, or unique id prefix (at least 4 characters).</summary>
    public Sandbox? Find(string reference)
    {
        // An exact id first: a name (chosen by a client) never shadows another sandbox's id.
        var byId = Query("SELECT * FROM sandboxes WHERE id = $p", reference);
        if (byId.Count > 0)
        {
            return byId[0];
        }

        var byName = Query("SELECT * FROM sandboxes WHERE name = $p", reference);
        if (byName.Count > 0)
        {
            return byName[0];
        }

        if (reference.Length < 4)
        {
            return null;
        }

        var byPrefix = Query("SELECT * FROM sandboxes WHERE id LIKE $p || '%' ESCAPE '\\'", reference.Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal));
        return byPrefix.Count == 1 ? byPrefix[0] : null;
    }

    public IReadOnlyList<Sandbox> List() => Query("SELECT * FROM sandboxes ORDER BY created_at, id", null);

    public IReadOnlyList<Sandbox> ListPool(string imageDigest, RuntimeTier tier = RuntimeTier.Container) =>
        Query("SELECT * FROM sandboxes WHERE pool_image = $p AND state = 'Running' AND tier = $t ORDER BY created_at", imageDigest, tier);

    public IReadOnlySet<string> UsedAddresses()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT address FROM sandboxes WHERE address IS NOT NULL";
        using var r = cmd.ExecuteReader();
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read())
        {
            set.Add(r.GetString(0));
        }

        return set;
    }

    /// <summary>
    /// The sandboxes a client holds (pool sandboxes are nobody's) and their memory in total, as quotas count them: one
    /// row kept by the store's triggers on every insert, update and delete, not a pass over every sandbox.
    /// </summary>
    public (int Sandboxes, long MemoryBytes) ClientUsage(string client)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT sandboxes, memory FROM client_usage WHERE client_key = $k";
        cmd.Parameters.AddWithValue("$k", ClientKey(client));
        using var r = cmd.ExecuteReader();
        return r.Read() ? (r.GetInt32(0), r.GetInt64(1)) : (0, 0);
    }

    /// <summary>Every sandbox's id, read from the primary key alone (no row decoded): for periodic sweeps over every sandbox.</summary>
    public IReadOnlyList<string> ListIds()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM sandboxes";
        using var r = cmd.ExecuteReader();
        var ids = new List<string>();
        while (r.Read())
        {
            ids.Add(r.GetString(0));
        }

        return ids;
    }

    /// <summary>How many sandboxes clients hold (pool sandboxes not counted), from the quota table: one row per client.</summary>
    public int HeldCount()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COALESCE(SUM(sandboxes), 0) FROM client_usage";
        return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Whether a sandbox holds <paramref name="address"/>: one lookup in the address index.</summary>
    public bool IsAddressUsed(System.Net.IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM sandboxes WHERE address = $a";
        cmd.Parameters.AddWithValue("$a", address.ToString());
        return cmd.ExecuteScalar() is not null;
    }

    /// <summary>
    /// Takes one ready pool sandbox of the image and gives it its identity in one transaction, so two claims never
    /// get the same sandbox. Returns null when the pool of that image is empty.
    /// </summary>
    public Sandbox? ClaimFromPool(string imageDigest, Func<Sandbox, Sandbox> identify) =>
        ClaimFromPool(imageDigest, RuntimeTier.Container, identify);

    /// <summary>Takes one ready pool sandbox of the image and tier (see <see cref="ClaimFromPool(string, Func{Sandbox, Sandbox})"/>).</summary>
    public Sandbox? ClaimFromPool(string imageDigest, RuntimeTier tier, Func<Sandbox, Sandbox> identify)
    {
        using var c = Open();
        using var tx = c.BeginTransaction(deferred: false);
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT * FROM sandboxes WHERE pool_image = $p AND state = 'Running' AND tier = $t ORDER BY created_at LIMIT 1";
        cmd.Parameters.AddWithValue("$p", imageDigest);
        cmd.Parameters.AddWithValue("$t", tier.Name());
        Sandbox? candidate;
        using (var r = cmd.ExecuteReader())
        {
            candidate = r.Read() ? ReadSandbox(r) : null;
        }

        if (candidate is null)
        {
            return null;
        }

        var claimed = identify(candidate);
        using var up = c.CreateCommand();
        up.Transaction = tx;
        up.CommandText = """
            UPDATE sandboxes SET name = $name, spec = $spec, image_digest = $digest, state = $state, address = $address,
                pool_image = $pool, created_at = $created, started_at = $started, exit_code = $exit, tier = $tier,
                client_key = $client_key, memory_bytes = $memory
            WHERE id = $id
            """;
        Bind(up, claimed);
        try
        {
            up.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new InvalidRequestException($"a sandbox named '{claimed.Name}' already exists; choose another name.");
        }

        tx.Commit();
        Changed?.Invoke(claimed.Id);
        return claimed;
    }

    public string? GetMeta(string key)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT value FROM meta WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    }

    public void SetMeta(string key, string value)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO meta (key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
        cmd.Parameters.AddWithValue("$k", key);
        cmd.Parameters.AddWithValue("$v", value);
        cmd.ExecuteNonQuery();
    }

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private List<Sandbox> Query(string sql, string? p, RuntimeTier? tier = null)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        if (p is not null)
        {
            cmd.Parameters.AddWithValue("$p", p);
        }

        if (tier is not null)
        {
            cmd.Parameters.AddWithValue("$t", tier.Value.Name());
        }

        using var r = cmd.ExecuteReader();
        var list = new List<Sandbox>();
        while (r.Read())
        {
            list.Add(ReadSandbox(r));
        }

        return list;
    }

    private static void Bind(SqliteCommand cmd, Sandbox s)
    {
        cmd.Parameters.AddWithValue("$id", s.Id);
        cmd.Parameters.AddWithValue("$name", (object?)s.Name ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$spec", JsonSerializer.Serialize(s.Spec, Json));
        cmd.Parameters.AddWithValue("$digest", s.ImageDigest);
        cmd.Parameters.AddWithValue("$state", s.State.ToString());
        cmd.Parameters.AddWithValue("$address", (object?)s.Address ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$pool", (object?)s.PoolImage ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$created", s.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$started", (object?)s.StartedAt?.ToString("O", CultureInfo.InvariantCulture) ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$exit", (object?)s.ExitCode ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$tier", s.Tier.Name());
        cmd.Parameters.AddWithValue("$client_key", ClientKey(s.Spec.Client));
        cmd.Parameters.AddWithValue("$memory", s.Spec.MemoryBytes);
    }

    /// <summary>A client's name as quotas compare it: ignoring case (ordinal), as <see cref="StringComparer.OrdinalIgnoreCase"/> does.</summary>
    private static string ClientKey(string client) => client.ToUpperInvariant();

    /// <summary>
    /// Stores made before runtime tiers had no tier column: it is added in place, and every row already there was a
    /// runc sandbox, so 'container' is the truth for them, not a guess.
    /// </summary>
    private static void MigrateTierColumn(SqliteConnection c)
    {
        using var info = c.CreateCommand();
        info.CommandText = "SELECT COUNT(*) FROM pragma_table_info('sandboxes') WHERE name = 'tier'";
        if ((long)info.ExecuteScalar()! == 0)
        {
            Execute(c, "ALTER TABLE sandboxes ADD COLUMN tier TEXT NOT NULL DEFAULT 'container'");
        }
    }

    /// <summary>
    /// Quotas count a client's sandboxes from a table the store keeps itself (triggers on sandboxes), keyed by the
    /// client as quotas compare it; each row carries that key and its memory beside the spec they come from. Rows of older stores get their key here, and the counts are rebuilt from the rows at
    /// every open, so they can never drift from what is stored.
    /// </summary>
    private static void MigrateClientUsage(SqliteConnection c)
    {
        using var info = c.CreateCommand();
        info.CommandText = "SELECT COUNT(*) FROM pragma_table_info('sandboxes') WHERE name = 'client_key'";
        if ((long)info.ExecuteScalar()! == 0)
        {
            Execute(c, "ALTER TABLE sandboxes ADD COLUMN client_key TEXT; ALTER TABLE sandboxes ADD COLUMN memory_bytes INTEGER");
        }

        using var tx = c.BeginTransaction();
        var keys = new List<(string Id, string Key, long Memory)>();
        using (var unkeyed = c.CreateCommand())
        {
            unkeyed.Transaction = tx;
            unkeyed.CommandText = "SELECT id, spec FROM sandboxes WHERE client_key IS NULL OR memory_bytes IS NULL";
            using var r = unkeyed.ExecuteReader();
            while (r.Read())
            {
                var spec = JsonSerializer.Deserialize<SandboxSpec>(r.GetString(1), Json) ?? SandboxSpec.Default;
                keys.Add((r.GetString(0), ClientKey(spec.Client), spec.MemoryBytes));
            }
        }

        foreach (var (id, key, memory) in keys)
        {
            using var set = c.CreateCommand();
            set.Transaction = tx;
            set.CommandText = "UPDATE sandboxes SET client_key = $k, memory_bytes = $m WHERE id = $id";
            set.Parameters.AddWithValue("$k", key);
            set.Parameters.AddWithValue("$m", memory);
            set.Parameters.AddWithValue("$id", id);
            set.ExecuteNonQuery();
        }

        using var schema = c.CreateCommand();
        schema.Transaction = tx;
        schema.CommandText = """
            CREATE TABLE IF NOT EXISTS client_usage (client_key TEXT PRIMARY KEY, sandboxes INTEGER NOT NULL, memory INTEGER NOT NULL);
            CREATE TRIGGER IF NOT EXISTS client_usage_insert AFTER INSERT ON sandboxes WHEN NEW.pool_image IS NULL
            BEGIN
                INSERT INTO client_usage (client_key, sandboxes, memory) VALUES (NEW.client_key, 1, NEW.memory_bytes)
                    ON CONFLICT (client_key) DO UPDATE SET sandboxes = sandboxes + 1, memory = memory + excluded.memory;
            END;
            CREATE TRIGGER IF NOT EXISTS client_usage_delete AFTER DELETE ON sandboxes WHEN OLD.pool_image IS NULL
            BEGIN
                UPDATE client_usage SET sandboxes = sandboxes - 1, memory = memory - OLD.memory_bytes WHERE client_key = OLD.client_key;
                DELETE FROM client_usage WHERE client_key = OLD.client_key AND sandboxes <= 0;
            END;
            CREATE TRIGGER IF NOT EXISTS client_usage_update AFTER UPDATE ON sandboxes
            BEGIN
                UPDATE client_usage SET sandboxes = sandboxes - 1, memory = memory - OLD.memory_bytes
                    WHERE OLD.pool_image IS NULL AND client_key = OLD.client_key;
                DELETE FROM client_usage WHERE OLD.pool_image IS NULL AND client_key = OLD.client_key AND sandboxes <= 0;
                INSERT INTO client_usage (client_key, sandboxes, memory) SELECT NEW.client_key, 1, NEW.memory_bytes WHERE NEW.pool_image IS NULL
                    ON CONFLICT (client_key) DO UPDATE SET sandboxes = sandboxes + 1, memory = memory + excluded.memory;
            END;
            DELETE FROM client_usage;
            INSERT INTO client_usage (client_key, sandboxes, memory)
                SELECT client_key, COUNT(*), SUM(memory_bytes) FROM sandboxes WHERE pool_image IS NULL GROUP BY client_key;
            """;
        schema.ExecuteNonQuery();
        tx.Commit();
    }

    private Sandbox ReadSandbox(SqliteDataReader r)
    {
        Interlocked.Increment(ref _rowsRead);
        return Decode(r);
    }

    private static Sandbox Decode(SqliteDataReader r) => new()
    {
        Id = r.GetString(r.GetOrdinal("id")),
        Name = r.IsDBNull(r.GetOrdinal("name")) ? null : r.GetString(r.GetOrdinal("name")),
        Spec = JsonSerializer.Deserialize<SandboxSpec>(r.GetString(r.GetOrdinal("spec")), Json) ?? SandboxSpec.Default,
        ImageDigest = r.GetString(r.GetOrdinal("image_digest")),
        State = Enum.Parse<SandboxState>(r.GetString(r.GetOrdinal("state"))),
        Address = r.IsDBNull(r.GetOrdinal("address")) ? null : r.GetString(r.GetOrdinal("address")),
        PoolImage = r.IsDBNull(r.GetOrdinal("pool_image")) ? null : r.GetString(r.GetOrdinal("pool_image")),
        CreatedAt = DateTimeOffset.Parse(r.GetString(r.GetOrdinal("created_at")), CultureInfo.InvariantCulture),
        StartedAt = r.IsDBNull(r.GetOrdinal("started_at")) ? null : DateTimeOffset.Parse(r.GetString(r.GetOrdinal("started_at")), CultureInfo.InvariantCulture),
        ExitCode = r.IsDBNull(r.GetOrdinal("exit_code")) ? null : r.GetInt32(r.GetOrdinal("exit_code")),
        Tier = RuntimeTiers.TryParse(r.GetString(r.GetOrdinal("tier")), out var tier) ? tier
            : throw new MoatHostException($"sandbox {r.GetString(r.GetOrdinal("id"))} has unknown tier '{r.GetString(r.GetOrdinal("tier"))}' in the store."),
    };
}
