namespace Moat.Control.Store;

/// <summary>
/// The control store's schema as numbered steps. A store applies, in order and each in one transaction, the steps
/// above the version it records, so an older store is brought forward at start and a newer one is refused (a
/// downgraded binary must not write to a schema it does not know). Steps are only ever appended.
/// </summary>
public static class ControlMigrations
{
    /// <summary>One step: its version, what it does, and its SQL (SQLite dialect; other stores carry their own text
    /// of the same steps).</summary>
    public sealed record Migration(int Version, string Description, string Sql);

    public static IReadOnlyList<Migration> Sqlite { get; } =
    [
        new(1, "clients, keys, sandboxes, audit", """
            CREATE TABLE clients (name TEXT PRIMARY KEY, trust TEXT NOT NULL, created INTEGER NOT NULL);
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, client TEXT NOT NULL, scope TEXT NOT NULL, hash BLOB NOT NULL,
                created INTEGER NOT NULL, expires INTEGER, revoked INTEGER);
            CREATE TABLE sandboxes (
                id TEXT PRIMARY KEY, client TEXT NOT NULL, name TEXT, host TEXT NOT NULL, image TEXT NOT NULL, trust TEXT NOT NULL,
                state TEXT NOT NULL, tier TEXT, address TEXT, quarantined INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
            CREATE UNIQUE INDEX sandboxes_client_name ON sandboxes(client, name) WHERE name IS NOT NULL;
            CREATE INDEX sandboxes_client ON sandboxes(client, created);
            CREATE TABLE audit (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, key_id TEXT NOT NULL, client TEXT NOT NULL,
                action TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL);
            """),
    ];

    /// <summary>The version this build writes.</summary>
    public static int Latest => Sqlite[^1].Version;
}
