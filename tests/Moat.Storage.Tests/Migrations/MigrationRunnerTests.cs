using System.Data.Common;
using System.Runtime.Versioning;
using Microsoft.Data.Sqlite;
using Moat.Storage.Migrations;
using Moat.Storage.Tests.Postgres;
using Npgsql;

namespace Moat.Storage.Tests.Migrations;

/// <summary>The runner's contract, checked against SQLite and against a real PostgreSQL.</summary>
public abstract class MigrationRunnerContract
{
    private static readonly Migration[] Three =
    [
        new(1, "create", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"),
        new(2, "seed", "INSERT INTO items (id, name) VALUES (1, 'first')"),
        new(3, "column", "ALTER TABLE items ADD COLUMN note TEXT"),
    ];

    protected abstract SqlDialect Dialect { get; }

    protected abstract Task<DbConnection> OpenAsync();

    [Fact]
    public async Task Migrations_apply_in_order_once_and_a_second_run_applies_nothing()
    {
        await using var connection = await OpenAsync();
        var runner = new MigrationRunner(Dialect, "test", Three);
        Assert.Equal([1, 2, 3], await runner.MigrateAsync(connection, "the test store"));
        Assert.Empty(await runner.MigrateAsync(connection, "the test store"));
        Assert.Equal(3, await runner.CurrentAsync(connection, null));
        Assert.Equal(1L, Convert.ToInt64(await ScalarAsync(connection, "SELECT count(*) FROM items WHERE note IS NULL"), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_store_migrated_part_way_gets_only_the_rest()
    {
        await using var connection = await OpenAsync();
        Assert.Equal([1, 2], await new MigrationRunner(Dialect, "test", Three[..2]).MigrateAsync(connection, "s"));
        Assert.Equal([3], await new MigrationRunner(Dialect, "test", Three).MigrateAsync(connection, "s"));
    }

    [Fact]
    public async Task Scopes_sharing_one_database_keep_their_own_versions()
    {
        await using var connection = await OpenAsync();
        await new MigrationRunner(Dialect, "test", Three).MigrateAsync(connection, "s");
        var other = new MigrationRunner(Dialect, "other", [new Migration(1, "own", "CREATE TABLE others (id INTEGER)")]);
        Assert.Equal([1], await other.MigrateAsync(connection, "s"));
        Assert.Equal(1, await other.CurrentAsync(connection, null));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_database_newer_than_the_code_is_refused_with_one_sentence_and_left_untouched()
    {
        await using var connection = await OpenAsync();
        await new MigrationRunner(Dialect, "test", Three).MigrateAsync(connection, "s");
        var older = new MigrationRunner(Dialect, "test", Three[..1]);
        var e = await Assert.ThrowsAsync<StorageException>(() => older.MigrateAsync(connection, "/var/lib/moat/x.db"));
        Assert.Equal(
            "The test store at /var/lib/moat/x.db is at schema version 3, newer than this Moat knows (1); run the Moat release that wrote it (or newer), or restore a backup taken before that upgrade.",
            e.Message);
        Assert.Equal(3, await older.CurrentAsync(connection, null));
        Assert.Equal("first", await ScalarAsync(connection, "SELECT name FROM items WHERE id = 1"));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_failing_migration_is_rolled_back_whole_and_the_version_stays()
    {
        await using var connection = await OpenAsync();
        var broken = new MigrationRunner(Dialect, "test",
            [.. Three, new Migration(4, "broken", "CREATE TABLE half (id INTEGER); INSERT INTO no_such_table VALUES (1)")]);
        var e = await Assert.ThrowsAsync<StorageException>(() => broken.MigrateAsync(connection, "s"));
        Assert.StartsWith("Migration 4 (broken) of the test store at s failed and was rolled back:", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, await broken.CurrentAsync(connection, null));
        await Assert.ThrowsAnyAsync<DbException>(() => ScalarAsync(connection, "SELECT count(*) FROM half"));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void Misnumbered_migrations_are_refused_with_one_sentence()
    {
        var e = Assert.Throws<StorageException>(() => new MigrationRunner(Dialect, "test", [Three[0], Three[2]]));
        Assert.StartsWith("Migration 3 (column) breaks the numbering", e.Message, StringComparison.Ordinal);
        Assert.Throws<StorageException>(() => new MigrationRunner(Dialect, "test", [Three[0], Three[0]]));
    }

    [Fact]
    public async Task Concurrent_starters_run_each_migration_once()
    {
        // Migration 2 would fail on a second run (primary key): every starter must see it applied, none apply it twice.
        var runners = Enumerable.Range(0, 8).Select(async _ =>
        {
            await using var connection = await OpenAsync();
            return await new MigrationRunner(Dialect, "test", Three).MigrateAsync(connection, "s");
        });
        var applied = await Task.WhenAll(runners);
        Assert.Equal([1, 2, 3], applied.SelectMany(a => a).Order());
        await using var check = await OpenAsync();
        Assert.Equal(3L, Convert.ToInt64(await ScalarAsync(check, "SELECT count(*) FROM schema_version WHERE scope = 'test'"), System.Globalization.CultureInfo.InvariantCulture));
    }

    protected static async Task<object?> ScalarAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }
}

public sealed class SqliteMigrationRunnerTests : MigrationRunnerContract, IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"moat-migrations-{Guid.NewGuid():N}.db");

    protected override SqlDialect Dialect => SqlDialect.Sqlite;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var f in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(f);
        }
    }

    protected override async Task<DbConnection> OpenAsync()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30, Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }
}

[Collection(PostgresCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class PostgresMigrationRunnerTests(PostgresFixture postgres) : MigrationRunnerContract, IAsyncLifetime
{
    private string connectionString = null!;

    protected override SqlDialect Dialect => SqlDialect.Postgres;

    public async Task InitializeAsync() => connectionString = await postgres.NewDatabaseAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    protected override async Task<DbConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return connection;
    }
}
