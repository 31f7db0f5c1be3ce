using System.Globalization;
using System.Text.Json;
using Moat.Storage;
using Moat.Storage.Migrations;
using Npgsql;
using NpgsqlTypes;

namespace Moat.Jobs.Store;

/// <summary>
/// The job store for several managers on several machines: one PostgreSQL database. A claim locks the queued rows it
/// takes (<c>FOR UPDATE SKIP LOCKED</c>), so concurrent managers take disjoint tasks without waiting on each other;
/// claims for one worker account are serialised (a transaction-scoped advisory lock) so that two managers cannot hand
/// two replicas of one task to two resources of one account. Managers hold leases (<see cref="RenewLeaseAsync"/>):
/// the tasks of one that died go back to the queue when its lease runs out.
/// </summary>
public sealed class PostgresJobStore : IJobStore
{
    private readonly NpgsqlDataSource source;
    private readonly TimeProvider time;

    private PostgresJobStore(NpgsqlDataSource source, TimeProvider time)
    {
        this.source = source;
        this.time = time;
    }

    /// <summary>Connects (a pool of connections) and brings the job tables to the newest schema.</summary>
    public static async Task<PostgresJobStore> OpenAsync(string connectionString, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        string where = $"{builder.Host}:{builder.Port}/{builder.Database}";
        var source = NpgsqlDataSource.Create(builder);
        time ??= TimeProvider.System;
        try
        {
            await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await JobStoreSchema.Runner(SqlDialect.Postgres, time).MigrateAsync(connection, where, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw new StorageException($"Could not open the job store at {where}: {e.Message}", e);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new PostgresJobStore(source, time);
    }

    public async Task<long> AddJobAsync(JobSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string? problem = spec.Validate();
        if (problem is not null)
        {
            throw new ArgumentException(problem, nameof(spec));
        }

        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        long id;
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO jobs (owner, command, args, tasks, labels, memory_mb, cpus, priority, max_retries, redundancy, timeout_ms, state, created)
            VALUES (@owner, @command, @args, @tasks, @labels, @memory, @cpus, @priority, @retries, @redundancy, @timeout, 'active', @created)
            RETURNING id
            """, connection, tx))
        {
            insert.Parameters.AddWithValue("owner", spec.Owner);
            insert.Parameters.AddWithValue("command", spec.Command);
            insert.Parameters.AddWithValue("args", JsonSerializer.Serialize(spec.Arguments));
            insert.Parameters.AddWithValue("tasks", spec.Tasks);
            insert.Parameters.AddWithValue("labels", string.Join(',', spec.Labels));
            insert.Parameters.AddWithValue("memory", spec.MemoryMb);
            insert.Parameters.AddWithValue("cpus", spec.Cpus);
            insert.Parameters.AddWithValue("priority", spec.Priority);
            insert.Parameters.AddWithValue("retries", spec.MaxRetries);
            insert.Parameters.AddWithValue("redundancy", spec.Redundancy);
            insert.Parameters.AddWithValue("timeout", (long)spec.Timeout.TotalMilliseconds);
            insert.Parameters.AddWithValue("created", time.GetUtcNow().ToUnixTimeMilliseconds());
            id = (long)(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        // One statement for all replicas of all tasks, in the order the SQLite store inserts them (index, then replica).
        await using (var tasks = new NpgsqlCommand("""
            INSERT INTO tasks (job, idx, replica, priority, state)
            SELECT @job, i, r, @priority, 0 FROM generate_series(0, @tasks - 1) i CROSS JOIN generate_series(0, @redundancy - 1) r ORDER BY i, r
            """, connection, tx))
        {
            tasks.Parameters.AddWithValue("job", id);
            tasks.Parameters.AddWithValue("priority", spec.Priority);
            tasks.Parameters.AddWithValue("tasks", spec.Tasks);
            tasks.Parameters.AddWithValue("redundancy", spec.Redundancy);
            await tasks.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    public async Task<IReadOnlyList<TaskAssignment>> ClaimAsync(string managerId, WorkerOffer worker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(managerId);
        ArgumentNullException.ThrowIfNull(worker);
        if (worker.Slots <= 0)
        {
            return [];
        }

        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        string account = AccountOf(worker.Jid);
        await using (var serialise = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('moat.jobs.account:' || @account, 0))", connection, tx))
        {
            // Replicas of one task must go to different accounts; the check below reads committed rows, so two claims for
            // one account (two resources, two managers) take turns rather than both seeing no replica held by it.
            serialise.Parameters.AddWithValue("account", account);
            await serialise.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var eligible = new Dictionary<long, (string Command, string[] Args, TimeSpan Timeout, int Redundancy)>();
        await using (var jobs = new NpgsqlCommand("SELECT id, command, args, timeout_ms, labels, memory_mb, cpus, redundancy FROM jobs WHERE state = 'active'", connection, tx))
        await using (var reader = await jobs.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var labels = reader.GetString(4).Split(',', StringSplitOptions.RemoveEmptyEntries);
                if (labels.All(worker.Labels.Contains) && (worker.MemoryMb == 0 || reader.GetInt32(5) <= Math.Max(worker.MemoryMb, 0))
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

        var picked = new List<long>();
        var seen = new HashSet<(long, int)>();
        await using (var select = new NpgsqlCommand("""
            SELECT t.id, t.job, t.idx FROM tasks t
            WHERE t.state = 0 AND t.job = ANY(@jobs)
              AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.job = t.job AND o.idx = t.idx AND o.id <> t.id
                              AND (o.worker = @account OR left(o.worker, length(@resources)) = @resources))
            ORDER BY t.priority DESC, t.id LIMIT @n
            FOR UPDATE OF t SKIP LOCKED
            """, connection, tx))
        {
            select.Parameters.AddWithValue("jobs", eligible.Keys.ToArray());
            select.Parameters.AddWithValue("account", account);
            select.Parameters.AddWithValue("resources", account + "/");
            select.Parameters.AddWithValue("n", worker.Slots);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                long job = reader.GetInt64(1);
                // Two replicas of one task must never go to the same worker, even within one claim.
                if (eligible[job].Redundancy == 1 || seen.Add((job, reader.GetInt32(2))))
                {
                    picked.Add(reader.GetInt64(0));
                }
            }
        }

        var claimed = new List<TaskAssignment>(picked.Count);
        if (picked.Count > 0)
        {
            await using var update = new NpgsqlCommand("""
                UPDATE tasks SET state = 1, attempt = attempt + 1, worker = @worker, manager = @manager
                WHERE id = ANY(@ids) AND state = 0
                RETURNING id, job, idx, attempt
                """, connection, tx);
            update.Parameters.AddWithValue("worker", worker.Jid);
            update.Parameters.AddWithValue("manager", managerId);
            update.Parameters.AddWithValue("ids", picked.ToArray());
            await using var reader = await update.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var job = eligible[reader.GetInt64(1)];
                string index = reader.GetInt32(2).ToString(CultureInfo.InvariantCulture);
                claimed.Add(new TaskAssignment(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt32(3), job.Command,
                    job.Args.Select(a => a.Replace("{task}", index, StringComparison.Ordinal)).ToArray(), job.Timeout));
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        // The same order as the SQLite store: priority, then id (RETURNING does not promise one).
        var order = picked.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        return claimed.OrderBy(c => order[c.TaskId]).ToList();
    }

    public async Task<int> CompleteAsync(string workerJid, IReadOnlyList<TaskResult> results, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workerJid);
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0)
        {
            return 0;
        }

        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        int accepted = 0;
        await using var done = new NpgsqlCommand(
            "UPDATE tasks SET state = 2, exit_code = @exit, output = @output WHERE id = @id AND attempt = @attempt AND state = 1 AND worker = @worker RETURNING state",
            connection, tx);
        await using var failed = new NpgsqlCommand("""
            UPDATE tasks SET failures = failures + 1, exit_code = @exit, output = @output,
                state = CASE WHEN failures + 1 > (SELECT max_retries FROM jobs WHERE jobs.id = tasks.job) THEN 3 ELSE 0 END
            WHERE id = @id AND attempt = @attempt AND state = 1 AND worker = @worker
            RETURNING state
            """, connection, tx);
        await using var record = new NpgsqlCommand("INSERT INTO results (task, attempt, exit_code) VALUES (@id, @attempt, @exit)", connection, tx);
        foreach (var command in new[] { done, failed, record })
        {
            command.Parameters.Add("id", NpgsqlDbType.Bigint);
            command.Parameters.Add("attempt", NpgsqlDbType.Integer);
            command.Parameters.Add("exit", NpgsqlDbType.Integer);
            if (command != record)
            {
                command.Parameters.Add("output", NpgsqlDbType.Text);
                command.Parameters.AddWithValue("worker", workerJid);
            }
        }

        foreach (var r in results)
        {
            var command = r.ExitCode == 0 && !r.TimedOut ? done : failed;
            command.Parameters["id"].Value = r.TaskId;
            command.Parameters["attempt"].Value = r.Attempt;
            command.Parameters["exit"].Value = r.ExitCode;
            command.Parameters["output"].Value = JobStoreSchema.CleanOutput(r.Output);
            var state = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            // Done (2) or failed for good (3) is final; a failure with retries left went back to the queue (0).
            if (state is int s && s is 2 or 3)
            {
                record.Parameters["id"].Value = r.TaskId;
                record.Parameters["attempt"].Value = r.Attempt;
                record.Parameters["exit"].Value = r.ExitCode;
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                accepted++;
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return accepted;
    }

    public async Task<bool> RequeueAsync(long taskId, int attempt, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("UPDATE tasks SET state = 0 WHERE id = @a AND attempt = @b AND state = 1", taskId, attempt, cancellationToken).ConfigureAwait(false) == 1;

    public Task<int> RequeueWorkerAsync(string workerJid, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE tasks SET state = 0 WHERE worker = @a AND state = 1", workerJid, null, cancellationToken);

    public Task<int> RequeueManagerAsync(string managerId, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE tasks SET state = 0 WHERE manager = @a AND state = 1", managerId, null, cancellationToken);

    public async Task<int> RenewLeaseAsync(string managerId, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(managerId);
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var renew = new NpgsqlCommand(
            "INSERT INTO managers (id, lease_until) VALUES (@id, @until) ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until", connection, tx))
        {
            renew.Parameters.AddWithValue("id", managerId);
            renew.Parameters.AddWithValue("until", now + (long)lease.TotalMilliseconds);
            await renew.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        int taken;
        await using (var requeue = new NpgsqlCommand(
            "UPDATE tasks SET state = 0 WHERE state = 1 AND manager IN (SELECT id FROM managers WHERE lease_until < @now)", connection, tx))
        {
            requeue.Parameters.AddWithValue("now", now);
            taken = await requeue.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var forget = new NpgsqlCommand("DELETE FROM managers WHERE lease_until < @now", connection, tx))
        {
            forget.Parameters.AddWithValue("now", now);
            await forget.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return taken;
    }

    public async Task<bool> CancelAsync(long jobId, string user, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var job = new NpgsqlCommand("UPDATE jobs SET state = 'cancelled' WHERE id = @id AND (@admin OR owner = @user)", connection, tx))
        {
            job.Parameters.AddWithValue("id", jobId);
            job.Parameters.AddWithValue("user", user);
            job.Parameters.AddWithValue("admin", isAdmin);
            if (await job.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                return false;
            }
        }

        await using (var tasks = new NpgsqlCommand("UPDATE tasks SET state = 4 WHERE job = @id AND state IN (0, 1)", connection, tx))
        {
            tasks.Parameters.AddWithValue("id", jobId);
            await tasks.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async Task<JobStatus?> GetStatusAsync(long jobId, CancellationToken cancellationToken = default)
    {
        var list = await QueryStatusAsync("WHERE j.id = @p", jobId, 1, cancellationToken).ConfigureAwait(false);
        return list.Count == 0 ? null : list[0];
    }

    public Task<IReadOnlyList<JobStatus>> ListAsync(string? owner, int limit, CancellationToken cancellationToken = default) =>
        QueryStatusAsync(owner is null ? string.Empty : "WHERE j.owner = @p", owner, limit, cancellationToken);

    public async Task<IReadOnlyList<TaskLog>> GetLogsAsync(long jobId, int? index, CancellationToken cancellationToken = default)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var select = new NpgsqlCommand(
            "SELECT idx, replica, state, attempt, worker, exit_code, output FROM tasks WHERE job = @job AND (@idx::integer IS NULL OR idx = @idx::integer) ORDER BY idx, replica LIMIT 10000",
            connection);
        select.Parameters.AddWithValue("job", jobId);
        select.Parameters.Add(new NpgsqlParameter("idx", NpgsqlDbType.Integer) { Value = (object?)index ?? DBNull.Value });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var logs = new List<TaskLog>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            logs.Add(new TaskLog(reader.GetInt32(0), reader.GetInt32(1), (TaskState)reader.GetInt32(2), reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        return logs;
    }

    public async Task<int> CountResultsAsync(long jobId, CancellationToken cancellationToken = default)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var count = new NpgsqlCommand("SELECT count(*)::integer FROM results r JOIN tasks t ON t.id = r.task WHERE t.job = @job", connection);
        count.Parameters.AddWithValue("job", jobId);
        return (int)(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public ValueTask DisposeAsync() => source.DisposeAsync();

    private async Task<IReadOnlyList<JobStatus>> QueryStatusAsync(string where, object? parameter, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var select = new NpgsqlCommand($"""
            SELECT j.id, j.owner, j.command, j.tasks, j.redundancy, j.state, j.created,
              (SELECT count(*)::integer FROM tasks t WHERE t.job = j.id AND t.state = 0),
              (SELECT count(*)::integer FROM tasks t WHERE t.job = j.id AND t.state = 1),
              (SELECT count(*)::integer FROM tasks t WHERE t.job = j.id AND t.state = 2),
              (SELECT count(*)::integer FROM tasks t WHERE t.job = j.id AND t.state = 3),
              (SELECT count(*)::integer FROM tasks t WHERE t.job = j.id AND t.state = 4),
              (SELECT count(*)::integer FROM (SELECT idx FROM tasks t WHERE t.job = j.id AND t.state = 2 GROUP BY idx
                 HAVING count(*) = j.redundancy AND j.redundancy > 1 AND count(DISTINCT coalesce(output, '') || '/' || exit_code) > 1) m)
            FROM jobs j {where} ORDER BY j.id DESC LIMIT @limit
            """, connection);
        if (parameter is long id)
        {
            select.Parameters.AddWithValue("p", id);
        }
        else if (parameter is string owner)
        {
            select.Parameters.AddWithValue("p", owner);
        }

        select.Parameters.AddWithValue("limit", limit);
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

    private async Task<int> ExecuteAsync(string sql, object a, object? b, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("a", a);
        if (b is not null)
        {
            command.Parameters.AddWithValue("b", b);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The bare JID (account) of a worker's full JID.</summary>
    private static string AccountOf(string jid)
    {
        int slash = jid.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? jid : jid[..slash];
    }
}
