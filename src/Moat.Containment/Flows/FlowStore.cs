using System.Globalization;
using System.Net;
using Microsoft.Data.Sqlite;

namespace Moat.Containment.Flows;

/// <summary>
/// The flow log's SQLite file (WAL, so <c>moat flows</c> reads while the agent writes). One writer, any number of
/// readers; the writer inserts in batches, one transaction per batch.
/// </summary>
public sealed class FlowStore : IDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;
        CREATE TABLE IF NOT EXISTS flows (
            id INTEGER PRIMARY KEY,
            started_ms INTEGER NOT NULL,
            ended_ms INTEGER,
            sandbox TEXT NOT NULL,
            client TEXT,
            direction TEXT NOT NULL,
            protocol INTEGER NOT NULL,
            src TEXT NOT NULL,
            src_port INTEGER NOT NULL,
            dst TEXT NOT NULL,
            dst_port INTEGER NOT NULL,
            bytes_sent INTEGER NOT NULL,
            bytes_received INTEGER NOT NULL,
            packets INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            rule TEXT
        );
        CREATE INDEX IF NOT EXISTS flows_started ON flows (started_ms);
        CREATE INDEX IF NOT EXISTS flows_sandbox ON flows (sandbox, started_ms);
        CREATE INDEX IF NOT EXISTS flows_client ON flows (client, started_ms);
        """;

    private readonly SqliteConnection _connection;

    private FlowStore(SqliteConnection connection) => _connection = connection;

    public string Path { get; private init; } = "";

    /// <summary>Opens (creating when needed) the log for writing.</summary>
    public static FlowStore Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = Schema;
            command.ExecuteNonQuery();
            return new FlowStore(connection) { Path = path };
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing log to read it (while a writer may be running).</summary>
    /// <exception cref="FileNotFoundException">There is no log at <paramref name="path"/>.</exception>
    public static FlowStore OpenReadOnly(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"There is no flow log at {path}: the agent creates it when it first logs a flow (--db names another file).", path);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        return new FlowStore(connection) { Path = path };
    }

    /// <summary>The records matching <paramref name="query"/>: the newest <see cref="FlowQuery.Limit"/>, oldest first.</summary>
    public IReadOnlyList<FlowRecord> Query(FlowQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var command = _connection.CreateCommand();
        var where = new List<string>();
        if (query.SandboxId is { } sandbox)
        {
            where.Add("sandbox = $sandbox");
            command.Parameters.AddWithValue("$sandbox", sandbox);
        }

        if (query.Client is { } client)
        {
            where.Add("client = $client");
            command.Parameters.AddWithValue("$client", client);
        }

        if (query.Since is { } since)
        {
            where.Add("started_ms >= $since");
            command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        }

        if (query.Verdict is { } verdict)
        {
            where.Add("verdict = $verdict");
            command.Parameters.AddWithValue("$verdict", VerdictText(verdict));
        }

        command.CommandText = $"""
            SELECT * FROM (
                SELECT id, started_ms, ended_ms, sandbox, client, direction, protocol, src, src_port, dst, dst_port,
                       bytes_sent, bytes_received, packets, verdict, rule
                FROM flows {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
                ORDER BY started_ms DESC, id DESC LIMIT $limit)
            ORDER BY started_ms, id
            """;
        command.Parameters.AddWithValue("$limit", Math.Max(0, query.Limit));
        var records = new List<FlowRecord>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            records.Add(new FlowRecord(
                reader.GetInt64(0),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.GetString(5) == "in" ? FlowDirection.In : FlowDirection.Out,
                (byte)reader.GetInt32(6),
                IPAddress.Parse(reader.GetString(7)),
                reader.GetInt32(8),
                IPAddress.Parse(reader.GetString(9)),
                reader.GetInt32(10),
                reader.GetInt64(11),
                reader.GetInt64(12),
                reader.GetInt64(13),
                reader.GetString(14) == "refused" ? FlowVerdict.Refused : FlowVerdict.Allowed,
                reader.IsDBNull(15) ? null : reader.GetString(15)));
        }

        return records;
    }

    public long Count()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM flows";
        return (long)command.ExecuteScalar()!;
    }

    public void Dispose() => _connection.Dispose();

    internal static string VerdictText(FlowVerdict verdict) => verdict == FlowVerdict.Refused ? "refused" : "allowed";

    internal Batch BeginBatch() => new(_connection);

    /// <summary>Drops records that started before <paramref name="before"/>, then the oldest beyond <paramref name="maxRows"/>; returns how many went.</summary>
    internal int Prune(DateTimeOffset before, long maxRows)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = """
            DELETE FROM flows WHERE started_ms < $before;
            DELETE FROM flows WHERE id <= (SELECT max(id) FROM flows) - $max;
            """;
        command.Parameters.AddWithValue("$before", before.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$max", maxRows);
        return command.ExecuteNonQuery();
    }

    /// <summary>One transaction of inserts and updates with prepared commands.</summary>
    internal sealed class Batch : IDisposable
    {
        private readonly SqliteTransaction _transaction;
        private readonly SqliteCommand _insert;
        private readonly SqliteCommand _close;
        private readonly SqliteCommand _addRefused;

        internal Batch(SqliteConnection connection)
        {
            _transaction = connection.BeginTransaction();
            _insert = connection.CreateCommand();
            _insert.Transaction = _transaction;
            _insert.CommandText = """
                INSERT INTO flows (started_ms, ended_ms, sandbox, client, direction, protocol, src, src_port, dst, dst_port, bytes_sent, bytes_received, packets, verdict, rule)
                VALUES ($started, $ended, $sandbox, $client, $direction, $protocol, $src, $src_port, $dst, $dst_port, $sent, $received, $packets, $verdict, $rule)
                RETURNING id
                """;
            foreach (var name in new[] { "$started", "$ended", "$sandbox", "$client", "$direction", "$protocol", "$src", "$src_port", "$dst", "$dst_port", "$sent", "$received", "$packets", "$verdict", "$rule" })
            {
                _insert.Parameters.Add(new SqliteParameter(name, null));
            }

            _close = connection.CreateCommand();
            _close.Transaction = _transaction;
            _close.CommandText = "UPDATE flows SET ended_ms = $ended, bytes_sent = $sent, bytes_received = $received WHERE id = $id";
            foreach (var name in new[] { "$ended", "$sent", "$received", "$id" })
            {
                _close.Parameters.Add(new SqliteParameter(name, null));
            }

            _addRefused = connection.CreateCommand();
            _addRefused.Transaction = _transaction;
            _addRefused.CommandText = "UPDATE flows SET packets = packets + 1, bytes_sent = bytes_sent + $bytes WHERE id = $id";
            _addRefused.Parameters.Add(new SqliteParameter("$bytes", null));
            _addRefused.Parameters.Add(new SqliteParameter("$id", null));
        }

        public long Insert(FlowRecord r)
        {
            var p = _insert.Parameters;
            p["$started"].Value = r.Started.ToUnixTimeMilliseconds();
            p["$ended"].Value = r.Ended is { } ended ? ended.ToUnixTimeMilliseconds() : DBNull.Value;
            p["$sandbox"].Value = r.SandboxId;
            p["$client"].Value = (object?)r.Client ?? DBNull.Value;
            p["$direction"].Value = r.Direction == FlowDirection.In ? "in" : "out";
            p["$protocol"].Value = (int)r.Protocol;
            p["$src"].Value = r.Source.ToString();
            p["$src_port"].Value = r.SourcePort;
            p["$dst"].Value = r.Destination.ToString();
            p["$dst_port"].Value = r.DestinationPort;
            p["$sent"].Value = r.BytesSent;
            p["$received"].Value = r.BytesReceived;
            p["$packets"].Value = r.Packets;
            p["$verdict"].Value = VerdictText(r.Verdict);
            p["$rule"].Value = (object?)r.Rule ?? DBNull.Value;
            return (long)_insert.ExecuteScalar()!;
        }

        public void Close(long id, DateTimeOffset ended, long sent, long received)
        {
            var p = _close.Parameters;
            p["$ended"].Value = ended.ToUnixTimeMilliseconds();
            p["$sent"].Value = sent;
            p["$received"].Value = received;
            p["$id"].Value = id;
            _close.ExecuteNonQuery();
        }

        public void AddRefusedPacket(long id, long bytes)
        {
            _addRefused.Parameters["$bytes"].Value = bytes;
            _addRefused.Parameters["$id"].Value = id;
            _addRefused.ExecuteNonQuery();
        }

        public void Commit() => _transaction.Commit();

        public void Dispose()
        {
            _insert.Dispose();
            _close.Dispose();
            _addRefused.Dispose();
            _transaction.Dispose();
        }
    }
}

/// <summary>Formats times the way <c>moat flows</c> prints and parses them.</summary>
internal static class FlowTimes
{
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
