using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Moat.Detect.Detectors;

namespace Moat.Host.Watch;

/// <summary>
/// Network alerts and the responses taken, in one SQLite file beside the agent's store (watch.db): the audit trail
/// an operator reads with `moat alerts` and undoes with `moat sandbox release`. It survives agent restarts, so a
/// quarantine in force is put back after one.
/// </summary>
internal sealed class WatchStore
{
    private readonly string _connectionString;
    private readonly Lock _gate = new();

    public WatchStore(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS alerts (
                id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, sandbox TEXT NOT NULL, detector TEXT NOT NULL,
                source TEXT NOT NULL, target TEXT NOT NULL, evidence TEXT NOT NULL, message TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS responses (
                id INTEGER PRIMARY KEY AUTOINCREMENT, alert INTEGER NOT NULL, sandbox TEXT NOT NULL, trust TEXT NOT NULL,
                action TEXT NOT NULL, applied_at TEXT NOT NULL, outcome TEXT NOT NULL, reverted_at TEXT, reverted_by TEXT);
            CREATE INDEX IF NOT EXISTS responses_sandbox ON responses (sandbox, id);
            """);
    }

    public NetworkAlertView AddAlert(Alert alert, string sandboxId)
    {
        lock (_gate)
        {
            using var c = Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                INSERT INTO alerts (time, sandbox, detector, source, target, evidence, message) VALUES ($t, $s, $d, $src, $tg, $e, $m);
                SELECT last_insert_rowid();
                """;
            cmd.Parameters.AddWithValue("$t", alert.Time.ToString("O", CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$s", sandboxId);
            cmd.Parameters.AddWithValue("$d", alert.Detector);
            cmd.Parameters.AddWithValue("$src", alert.Source.ToString());
            cmd.Parameters.AddWithValue("$tg", alert.Target);
            cmd.Parameters.AddWithValue("$e", JsonSerializer.Serialize(alert.Evidence));
            cmd.Parameters.AddWithValue("$m", alert.Message);
            long id = (long)cmd.ExecuteScalar()!;
            return new NetworkAlertView(id, alert.Time, sandboxId, alert.Detector, alert.Source.ToString(), alert.Target, alert.Evidence, alert.Message);
        }
    }

    public ResponseView AddResponse(long alertId, string sandboxId, string trust, string action, DateTimeOffset at, string outcome)
    {
        lock (_gate)
        {
            using var c = Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                INSERT INTO responses (alert, sandbox, trust, action, applied_at, outcome) VALUES ($a, $s, $t, $ac, $at, $o);
                SELECT last_insert_rowid();
                """;
            cmd.Parameters.AddWithValue("$a", alertId);
            cmd.Parameters.AddWithValue("$s", sandboxId);
            cmd.Parameters.AddWithValue("$t", trust);
            cmd.Parameters.AddWithValue("$ac", action);
            cmd.Parameters.AddWithValue("$at", at.ToString("O", CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$o", outcome);
            long id = (long)cmd.ExecuteScalar()!;
            return new ResponseView(id, alertId, sandboxId, trust, action, at, outcome);
        }
    }

    public ResponseView MarkReverted(ResponseView response, string by, DateTimeOffset at)
    {
        lock (_gate)
        {
            using var c = Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE responses SET reverted_at = $at, reverted_by = $by WHERE id = $id";
            cmd.Parameters.AddWithValue("$at", at.ToString("O", CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$by", by);
            cmd.Parameters.AddWithValue("$id", response.Id);
            cmd.ExecuteNonQuery();
            return response with { RevertedAt = at, RevertedBy = by };
        }
    }

    public IReadOnlyList<NetworkAlertView> Alerts(string? sandboxId, int limit)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, time, sandbox, detector, source, target, evidence, message FROM alerts WHERE ($s IS NULL OR sandbox = $s) ORDER BY id DESC LIMIT $n";
        cmd.Parameters.AddWithValue("$s", (object?)sandboxId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$n", limit);
        using var r = cmd.ExecuteReader();
        var list = new List<NetworkAlertView>();
        while (r.Read())
        {
            list.Add(new NetworkAlertView(r.GetInt64(0), Time(r.GetString(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                JsonSerializer.Deserialize<Dictionary<string, long>>(r.GetString(6))!, r.GetString(7)));
        }

        list.Reverse();
        return list;
    }

    public IReadOnlyList<ResponseView> Responses(string? sandboxId, int limit = int.MaxValue)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, alert, sandbox, trust, action, applied_at, outcome, reverted_at, reverted_by FROM responses WHERE ($s IS NULL OR sandbox = $s) ORDER BY id DESC LIMIT $n";
        cmd.Parameters.AddWithValue("$s", (object?)sandboxId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$n", limit);
        using var r = cmd.ExecuteReader();
        var list = new List<ResponseView>();
        while (r.Read())
        {
            list.Add(new ResponseView(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), Time(r.GetString(5)), r.GetString(6))
            {
                RevertedAt = r.IsDBNull(7) ? null : Time(r.GetString(7)),
                RevertedBy = r.IsDBNull(8) ? null : r.GetString(8),
            });
        }

        list.Reverse();
        return list;
    }

    private static DateTimeOffset Time(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

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
}
