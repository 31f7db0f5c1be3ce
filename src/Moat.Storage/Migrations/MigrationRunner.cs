using System.Data.Common;
using System.Globalization;

namespace Moat.Storage.Migrations;

/// <summary>The SQL dialects the runner speaks (they differ in how concurrent starters are serialised).</summary>
public enum SqlDialect
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Brings one scope's schema (e.g. <c>jobs</c>; several scopes can share one database) up to the newest migration the
/// code carries. Applied versions are rows of <c>schema_version</c>; each migration runs in its own transaction together
/// with its row, so a failure leaves the schema at the previous version. Concurrent starters are serialised: on
/// PostgreSQL by a transaction-scoped advisory lock, on SQLite by the write lock that an IMMEDIATE transaction takes
/// up front; each re-reads the version under the lock, so a migration runs once however many processes start at once.
/// A database newer than the code is refused with one sentence, before anything is written.
/// </summary>
public sealed class MigrationRunner
{
    private const string CreateTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_ms BIGINT NOT NULL,
            PRIMARY KEY (scope, version))
        """;

    private readonly SqlDialect dialect;
    private readonly string scope;
    private readonly IReadOnlyList<Migration> migrations;
    private readonly TimeProvider time;

    public MigrationRunner(SqlDialect dialect, string scope, IReadOnlyList<Migration> migrations, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(scope);
        this.dialect = dialect;
        this.scope = scope;
        this.migrations = Migration.Ordered(migrations);
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>The newest version this code knows.</summary>
    public int Latest => migrations.Count;

    /// <summary>Applies what is missing; returns the versions applied by this call (empty when the schema was current).</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(DbConnection connection, string where, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var applied = new List<int>();
        while (true)
        {
            await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await LockAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            int current = await CurrentAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            if (current > Latest)
            {
                throw new StorageException(
                    ErrorKind.Refused,
                    $"The {scope} store at {where} is at schema version {current}, newer than this Moat knows ({Latest}); run the Moat release that wrote it (or newer), or restore a backup taken before that upgrade.");
            }

            if (current == Latest)
            {
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                return applied;
            }

            var next = migrations[current];
            try
            {
                await ExecuteAsync(connection, tx, next.Sql, cancellationToken).ConfigureAwait(false);
            }
            catch (DbException e)
            {
                throw new StorageException($"Migration {next.Version} ({next.Name}) of the {scope} store at {where} failed and was rolled back: {e.Message}", e);
            }

            await using (var record = connection.CreateCommand())
            {
                record.Transaction = tx;
                record.CommandText = "INSERT INTO schema_version (scope, version, name, applied_ms) VALUES (@scope, @version, @name, @applied)";
                Add(record, "@scope", scope);
                Add(record, "@version", next.Version);
                Add(record, "@name", next.Name);
                Add(record, "@applied", time.GetUtcNow().ToUnixTimeMilliseconds());
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            applied.Add(next.Version);
        }
    }

    /// <summary>The schema version of this scope recorded in the database (0 when none).</summary>
    public async Task<int> CurrentAsync(DbConnection connection, DbTransaction? tx, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await ExecuteAsync(connection, tx, CreateTable, cancellationToken).ConfigureAwait(false);
        await using var read = connection.CreateCommand();
        read.Transaction = tx;
        read.CommandText = "SELECT coalesce(max(version), 0) FROM schema_version WHERE scope = @scope";
        Add(read, "@scope", scope);
        return Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private async Task LockAsync(DbConnection connection, DbTransaction tx, CancellationToken cancellationToken)
    {
        if (dialect == SqlDialect.Postgres)
        {
            // Held until this transaction ends; every starter of any scope queues here, so CREATE TABLE IF NOT EXISTS
            // of schema_version cannot race either.
            await ExecuteAsync(connection, tx, "SELECT pg_advisory_xact_lock(7248163529)", cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Microsoft.Data.Sqlite begins IMMEDIATE: the write lock is already held. A write makes that true for any
            // provider that began DEFERRED.
            await ExecuteAsync(connection, tx, CreateTable, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction? tx, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
