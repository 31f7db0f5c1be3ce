using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Moat.Storage.Migrations;

namespace Moat.Jobs.Store;

/// <summary>The default job store: one SQLite file in WAL mode, shareable by several managers on one machine.</summary>
public sealed class SqliteJobStore : IJobStore
{
    private readonly SqliteConnection connection;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly TimeProvider time;

    private SqliteJobStore(SqliteConnection connection, TimeProvider time)
    {
        this.connection = connection;
        this.time = time;
    }

    /// <summary>Opens (creating if needed) the store at a file path.</summary>
    public static async Task<SqliteJobStore> OpenAsync(string path, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (var busy = connection.CreateCommand())
        {
            busy.CommandText = "PRAGMA busy_timeout=30000;";
            await busy.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var wal = connection.CreateCommand())
        {
            // Not inside a transaction: SQLite changes the journal mode only outside one.
            wal.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
            await wal.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        time ??= TimeProvider.System;
        try
        {
            await JobStoreSchema.Runner(SqlDialect.Sqlite, time).MigrateAsync(connection, path, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new SqliteJobStore(connection, time);
    }

    public async Task<long> AddJobAsync(JobSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string? problem = spec.Validate();
        if (problem is not null)
        {
            throw new ArgumentException(problem, nameof(spec));
        }

        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            long id;
            await using (var insert = Command(tx, """
                INSERT INTO jobs (owner, command, args, tasks, labels, memory_mb, cpus, priority, max_retries, redundancy, timeout_ms, state, created)
                VALUES ($owner, $command, $args, $tasks, $labels, $memory, $cpus, $priority, $retries, $redundancy, $timeout, 'active', $created)
                RETURNING id
                """))
            {
                insert.Parameters.AddWithValue("$owner", spec.Owner);
                insert.Parameters.AddWithValue("$command", spec.Command);
                insert.Parameters.AddWithValue("$args", JsonSerializer.Serialize(spec.Arguments));
                insert.Parameters.AddWithValue("$tasks", spec.Tasks);
                insert.Parameters.AddWithValue("$labels", string.Join(',', spec.Labels));
                insert.Parameters.AddWithValue("$memory", spec.MemoryMb);
                insert.Parameters.AddWithValue("$cpus", spec.Cpus);
                insert.Parameters.AddWithValue("$priority", spec.Priority);
                insert.Parameters.AddWithValue("$retries", spec.MaxRetries);
                insert.Parameters.AddWithValue("$redundancy", spec.Redundancy);
                insert.Parameters.AddWithValue("$timeout", (long)spec.Timeout.TotalMilliseconds);
                insert.Parameters.AddWithValue("$created", time.GetUtcNow().ToUnixTimeMilliseconds());
                id = (long)(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            await using (var tasks = Command(tx, "INSERT INTO tasks (job, idx, replica, priority, state) VALUES ($job, $idx, $replica, $priority, 0)"))
            {
                var idx = tasks.Parameters.Add("$idx", SqliteType.Integer);
                var replica = tasks.Parameters.Add("$replica", SqliteType.Integer);
                tasks.Parameters.AddWithValue("$job", id);
                tasks.Parameters.AddWithValue("$priority", spec.Priority);
                for (int i = 0; i < spec.Tasks; i++)
                {
                    for (int r = 0; r < spec.Redundancy; r++)
                    {
                        idx.Value = i;
                        replica.Value = r;
                        await tasks.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return id;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<IReadOnlyList<TaskAssignment>> ClaimAsync(string managerId, WorkerOffer worker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (worker.Slots <= 0)
        {
            return [];
        }

        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Microsoft.Data.Sqlite begins IMMEDIATE by default: the write lock is taken up front, so two managers cannot both read a task as queued.
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var eligible = new Dictionary<long, (string Command, string[] Args, TimeSpan Timeout, int Redundancy)>();
            await using (var jobs = Command(tx, "SELECT id, command, args, timeout_ms, labels, memory_mb, cpus, redundancy FROM jobs WHERE state = 'active'"))
            await using (var reader = await jobs.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var labels = reader.GetString(4).Split(',', StringSplitOptions.RemoveEmptyEntries);
                    if (labels.All(worker.Labels.Contains) && reader.GetInt32(5) <= Math.Max(worker.MemoryMb, 0) + (worker.MemoryMb == 0 ? int.MaxValue / 2 : 0)
                        && reader.GetDouble(6) <= (worker.Cpus == 0 ? double.MaxValue : worker.Cpus))
                    {
                        eligible[reader.GetInt64(0)] = (reader.GetString(1), JsonSerializer.Deserialize<string[]>(reader.GetString(2)) ?? [],
                            TimeSpan.FromMilliseconds(reader.GetInt64(3)), reader.GetInt32(7));
                    }
                }
            }

            if (eligible.Count == 0)
            {
                return [];
            }

            var picked = new List<(long Id, long Job, int Idx, int Attempt)>();
            await using (var select = Command(tx, $"""
                SELECT t.id, t.job, t.idx, t.attempt FROM tasks t
                WHERE t.state = 0 AND t.job IN ({string.Join(',', eligible.Keys)})
                  AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.job = t.job AND o.idx = t.idx AND o.id <> t.id
                                  AND (o.worker = $account OR substr(o.worker, 1, length($resources)) = $resources))
                ORDER BY t.priority DESC, t.id LIMIT $n
                """))
            {
                // Replicas of one task go to different accounts: two resources of one account are one party, not two
                // independent results.
                string account = AccountOf(worker.Jid);
                select.Parameters.AddWithValue("$account", account);
                select.Parameters.AddWithValue("$resources", account + "/");
                select.Parameters.AddWithValue("$n", worker.Slots);
                await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                var seen = new HashSet<(long, int)>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    long job = reader.GetInt64(1);
                    int idx = reader.GetInt32(2);
                    // Two replicas of one task must never go to the same worker, even within one claim.
                    if (eligible[job].Redundancy == 1 || seen.Add((job, idx)))
                    {
                        picked.Add((reader.GetInt64(0), job, idx, reader.GetInt32(3) + 1));
                    }
                }
            }

            var claimed = new List<TaskAssignment>(picked.Count);
            await using (var update = Command(tx, "UPDATE tasks SET state = 1, attempt = attempt + 1, worker = $worker, manager = $manager WHERE id = $id AND state = 0"))
            {
                update.Parameters.AddWithValue("$worker", worker.Jid);
                update.Parameters.AddWithValue("$manager", managerId);
                var id = update.Parameters.Add("$id", SqliteType.Integer);
                foreach (var p in picked)
                {
                    id.Value = p.Id;
                    if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                    {
                        var job = eligible[p.Job];
                        string index = p.Idx.ToString(CultureInfo.InvariantCulture);
                        claimed.Add(new TaskAssignment(p.Id, p.Job, p.Idx, p.Attempt, job.Command,
                            job.Args.Select(a => a.Replace("{task}", index, StringComparison.Ordinal)).ToArray(), job.Timeout));
                    }
                }
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return claimed;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<int> CompleteAsync(string workerJid, IReadOnlyList<TaskResult> results, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workerJid);
        ArgumentNullException.ThrowIfNull(results);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            int accepted = 0;
            await using var done = Command(tx, "UPDATE tasks SET state = 2, exit_code = $exit, output = $output WHERE id = $id AND attempt = $attempt AND state = 1 AND worker = $worker");
            await using var failed = Command(tx, """
                UPDATE tasks SET failures = failures + 1, exit_code = $exit, output = $output,
                    state = CASE WHEN failures + 1 > (SELECT max_retries FROM jobs WHERE jobs.id = tasks.job) THEN 3 ELSE 0 END
                WHERE id = $id AND attempt = $attempt AND state = 1 AND worker = $worker
                RETURNING state
                """);
            await using var record = Command(tx, "INSERT INTO results (task, attempt, exit_code) VALUES ($id, $attempt, $exit)");
            foreach (var command in new[] { done, failed, record })
            {
                command.Parameters.Add("$id", SqliteType.Integer);
                command.Parameters.Add("$attempt", SqliteType.Integer);
                command.Parameters.Add("$exit", SqliteType.Integer);
                if (command != record)
                {
                    command.Parameters.Add("$output", SqliteType.Text);
                    command.Parameters.AddWithValue("$worker", workerJid);
                }
            }

            foreach (var r in results)
            {
                bool final;
                var command = r.ExitCode == 0 && !r.TimedOut ? done : failed;
                command.Parameters["$id"].Value = r.TaskId;
                command.Parameters["$attempt"].Value = r.Attempt;
                command.Parameters["$exit"].Value = r.ExitCode;
                command.Parameters["$output"].Value = JobStoreSchema.CleanOutput(r.Output);
                if (command == done)
                {
                    final = await done.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
                }
                else
                {
                    var state = await failed.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                    final = state is long s && s == 3;
                }

                if (final)
                {
                    record.Parameters["$id"].Value = r.TaskId;
                    record.Parameters["$attempt"].Value = r.Attempt;
                    record.Parameters["$exit"].Value = r.ExitCode;
                    await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    accepted++;
                }
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return accepted;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<bool> RequeueAsync(long taskId, int attempt, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("UPDATE tasks SET state = 0 WHERE id = $a AND attempt = $b AND state = 1", taskId, attempt, cancellationToken).ConfigureAwait(false) == 1;

    public Task<int> RequeueWorkerAsync(string workerJid, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE tasks SET state = 0 WHERE worker = $a AND state = 1", workerJid, null, cancellationToken);

    public Task<int> RequeueManagerAsync(string managerId, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE tasks SET state = 0 WHERE manager = $a AND state = 1", managerId, null, cancellationToken);

    public async Task<int> RenewLeaseAsync(string managerId, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(managerId);
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var renew = Command(tx, "INSERT INTO managers (id, lease_until) VALUES ($id, $until) ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until"))
            {
                renew.Parameters.AddWithValue("$id", managerId);
                renew.Parameters.AddWithValue("$until", now + (long)lease.TotalMilliseconds);
                await renew.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            int taken;
            await using (var requeue = Command(tx, "UPDATE tasks SET state = 0 WHERE state = 1 AND manager IN (SELECT id FROM managers WHERE lease_until < $now)"))
            {
                requeue.Parameters.AddWithValue("$now", now);
                taken = await requeue.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using (var forget = Command(tx, "DELETE FROM managers WHERE lease_until < $now"))
            {
                forget.Parameters.AddWithValue("$now", now);
                await forget.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return taken;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<bool> CancelAsync(long jobId, string user, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var job = Command(tx, "UPDATE jobs SET state = 'cancelled' WHERE id = $id AND ($admin OR owner = $user)");
            job.Parameters.AddWithValue("$id", jobId);
            job.Parameters.AddWithValue("$user", user);
            job.Parameters.AddWithValue("$admin", isAdmin);
            if (await job.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                return false;
            }

            await using var tasks = Command(tx, "UPDATE tasks SET state = 4 WHERE job = $id AND state IN (0, 1)");
            tasks.Parameters.AddWithValue("$id", jobId);
            await tasks.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<JobStatus?> GetStatusAsync(long jobId, CancellationToken cancellationToken = default)
    {
        var list = await QueryStatusAsync("WHERE j.id = $p", jobId, 1, cancellationToken).ConfigureAwait(false);
        return list.Count == 0 ? null : list[0];
    }

    public Task<IReadOnlyList<JobStatus>> ListAsync(string? owner, int limit, CancellationToken cancellationToken = default) =>
        QueryStatusAsync(owner is null ? string.Empty : "WHERE j.owner = $p", owner, limit, cancellationToken);

    public async Task<IReadOnlyList<TaskLog>> GetLogsAsync(long jobId, int? index, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var select = connection.CreateCommand();
            select.CommandText = "SELECT idx, replica, state, attempt, worker, exit_code, output FROM tasks WHERE job = $job AND ($idx IS NULL OR idx = $idx) ORDER BY idx, replica LIMIT 10000";
            select.Parameters.AddWithValue("$job", jobId);
            select.Parameters.AddWithValue("$idx", (object?)index ?? DBNull.Value);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var logs = new List<TaskLog>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                logs.Add(new TaskLog(reader.GetInt32(0), reader.GetInt32(1), (TaskState)reader.GetInt32(2), reader.GetInt32(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
            }

            return logs;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<int> CountResultsAsync(long jobId, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var count = connection.CreateCommand();
            count.CommandText = "SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task WHERE t.job = $job";
            count.Parameters.AddWithValue("$job", jobId);
            return Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await connection.DisposeAsync().ConfigureAwait(false);
        gate.Dispose();
    }

    private async Task<IReadOnlyList<JobStatus>> QueryStatusAsync(string where, object? parameter, int limit, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var select = connection.CreateCommand();
            select.CommandText = $"""
                SELECT j.id, j.owner, j.command, j.tasks, j.redundancy, j.state, j.created,
                  (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.state = 0),
                  (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.state = 1),
                  (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.state = 2),
                  (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.state = 3),
                  (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.state = 4),
                  (SELECT count(*) FROM (SELECT idx FROM tasks t WHERE t.job = j.id AND t.state = 2 GROUP BY idx
                     HAVING count(*) = j.redundancy AND j.redundancy > 1 AND count(DISTINCT coalesce(output, '') || '/' || exit_code) > 1))
                FROM jobs j {where} ORDER BY j.id DESC LIMIT $limit
                """;
            select.Parameters.AddWithValue("$p", parameter ?? DBNull.Value);
            select.Parameters.AddWithValue("$limit", limit);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var list = new List<JobStatus>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                int queued = reader.GetInt32(7), dispatched = reader.GetInt32(8), done = reader.GetInt32(9), failed = reader.GetInt32(10);
                string state = reader.GetString(5) == "cancelled" ? "cancelled" : queued + dispatched > 0 ? (done + failed + dispatched > 0 ? "running" : "queued") : failed > 0 ? "finished with failures" : "done";
                list.Add(new JobStatus(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4), state,
                    queued, dispatched, done, failed, reader.GetInt32(11), reader.GetInt32(12), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
            }

            return list;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<int> ExecuteAsync(string sql, object a, object? b, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$a", a);
            if (b is not null)
            {
                command.Parameters.AddWithValue("$b", b);
            }

            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The bare JID (account) of a worker's full JID.</summary>
    private static string AccountOf(string jid)
    {
        int slash = jid.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? jid : jid[..slash];
    }

    private SqliteCommand Command(SqliteTransaction tx, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }
}
