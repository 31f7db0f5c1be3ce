using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace Moat.Monitor.Store;

/// <summary>The monitor store in one SQLite file: one row per event, the record itself kept as JSON.</summary>
public sealed class SqliteMonitorStore : IMonitorStore
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteParameter _time, _kind, _sandbox, _body;
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    private SqliteMonitorStore(SqliteConnection connection)
    {
        _connection = connection;

        // One insert statement, prepared once and reused by every append (the recorder writes thousands a second).
        _insert = connection.CreateCommand();
        _insert.CommandText = "INSERT INTO monitor_events (time_us, kind, sandbox, body) VALUES ($t, $k, $s, $b)";
        _time = _insert.Parameters.Add("$t", SqliteType.Integer);
        _kind = _insert.Parameters.Add("$k", SqliteType.Text);
        _sandbox = _insert.Parameters.Add("$s", SqliteType.Text);
        _body = _insert.Parameters.Add("$b", SqliteType.Text);
    }

    public static async Task<SqliteMonitorStore> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate }.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS monitor_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time_us INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    sandbox TEXT,
                    body TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS monitor_events_sandbox ON monitor_events (sandbox, id);
                """;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return new SqliteMonitorStore(connection);
    }

    public Task AppendAsync(MonitorEvent monitorEvent, CancellationToken cancellationToken = default) =>
        AppendManyAsync([monitorEvent], cancellationToken);

    /// <summary>One transaction for the whole list: a burst of execs costs one commit, not one each.</summary>
    public async Task AppendManyAsync(IReadOnlyList<MonitorEvent> monitorEvents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(monitorEvents);
        if (monitorEvents.Count == 0)
        {
            return;
        }

        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var transaction = monitorEvents.Count > 1 ? (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false) : null;
            _insert.Transaction = transaction;
            foreach (var monitorEvent in monitorEvents)
            {
                ArgumentNullException.ThrowIfNull(monitorEvent);
                var (kind, body) = monitorEvent switch
                {
                    ExecRecord e => ("exec", JsonSerializer.Serialize(e, Json)),
                    GapRecord g => ("gap", JsonSerializer.Serialize(g, Json)),
                    AlertRecord a => ("alert", JsonSerializer.Serialize(a, Json)),
                    _ => throw new MonitorException($"The store cannot keep events of type {monitorEvent.GetType().Name}."),
                };
                _time.Value = monitorEvent.Time.ToUnixTimeMilliseconds() * 1000;
                _kind.Value = kind;
                _sandbox.Value = (object?)monitorEvent.SandboxId ?? DBNull.Value;
                _body.Value = body;
                await _insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            if (transaction is not null)
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _insert.Transaction = null;
            _writeGate.Release();
        }
    }

    public async Task<IReadOnlyList<MonitorEvent>> EventsAsync(MonitorQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var command = _connection.CreateCommand();
        // Gaps without a sandbox concern every sandbox, so a per-sandbox query includes them.
        command.CommandText = """
            SELECT kind, body FROM monitor_events
            WHERE ($s IS NULL OR sandbox = $s OR sandbox IS NULL) AND time_us >= $t
            ORDER BY id LIMIT $n
            """;
        command.Parameters.AddWithValue("$s", (object?)query.SandboxId ?? DBNull.Value);
        command.Parameters.AddWithValue("$t", (query.Since?.ToUnixTimeMilliseconds() ?? 0) * 1000);
        command.Parameters.AddWithValue("$n", query.Limit.ToString(CultureInfo.InvariantCulture));
        var events = new List<MonitorEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            string body = reader.GetString(1);
            MonitorEvent? e = reader.GetString(0) switch
            {
                "exec" => JsonSerializer.Deserialize<ExecRecord>(body, Json),
                "gap" => JsonSerializer.Deserialize<GapRecord>(body, Json),
                "alert" => JsonSerializer.Deserialize<AlertRecord>(body, Json),
                _ => null,
            };
            if (e is not null)
            {
                events.Add(e);
            }
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await _insert.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        _writeGate.Dispose();
    }
}
