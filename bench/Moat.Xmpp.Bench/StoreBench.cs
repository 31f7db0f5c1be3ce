using System.Diagnostics;
using System.Globalization;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Storage.Postgres;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Bench;

/// <summary>
/// Empty tasks end to end through one manager on each job store — SQLite (WAL) and PostgreSQL (a private cluster on
/// loopback) — in alternating rounds of one run, beside pgbench's built-in simple-update on the same cluster as the
/// floor: what one PostgreSQL here commits per second when nothing else is in the way.
/// Usage: dotnet run -c Release --project bench/Moat.Xmpp.Bench -- store [tasks=20000] [rounds=2]
/// </summary>
internal static class StoreBench
{
    private const string Password = "bench-pw";
    private const int Workers = 40, Slots = 64;

    public static async Task RunAsync(string[] args)
    {
        int tasks = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
        await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with { FileLimit = 20000 });
        await using var cluster = await PostgresCluster.StartAsync();
        int accounts = 0;
        string Account(string prefix)
        {
            string user = prefix + Interlocked.Increment(ref accounts).ToString(CultureInfo.InvariantCulture);
            server.AddAccount(user, Password);
            return $"{user}@{server.Domain}";
        }

        XmppClientOptions Options(string jid, string resource) => XmppClientOptions.Default with
        {
            Host = server.Address, Port = server.Port, Jid = jid, Password = Password, Resource = resource, Tls = TlsMode.Disabled,
            Mechanisms = ["SCRAM-SHA-1"], ConnectTimeout = TimeSpan.FromSeconds(60), IqTimeout = TimeSpan.FromSeconds(60),
        };

        var rates = new Dictionary<string, List<double>>(StringComparer.Ordinal) { ["sqlite"] = [], ["postgres"] = [], ["postgres-async"] = [] };
        for (int round = 0; round < rounds; round++)
        {
            foreach (string kind in new[] { "sqlite", "postgres", "postgres-async" })
            {
                string db = Path.Combine(Path.GetTempPath(), $"moat-storebench-{Guid.NewGuid():N}.db");
                try
                {
                    await using IJobStore store = kind == "sqlite"
                        ? await SqliteJobStore.OpenAsync(db)
                        : await PostgresJobStore.OpenAsync(await PostgresDatabaseAsync(cluster, $"bench{round}{(kind == "postgres" ? "" : "_async")}", synchronousCommit: kind == "postgres"));
                    double rate = await DispatchAsync(store, tasks, Account, Options);
                    rates[kind].Add(rate);
                    Console.WriteLine($"round {round + 1} {kind}: {rate:N0} tasks/s");
                }
                finally
                {
                    foreach (var f in new[] { db, db + "-wal", db + "-shm" })
                    {
                        File.Delete(f);
                    }
                }
            }
        }

        double pgbench = await PgbenchAsync(cluster);
        Console.WriteLine($"pgbench simple-update (8 clients, 15 s): {pgbench:N0} transactions/s");
        double sqlite = Median(rates["sqlite"]), postgres = Median(rates["postgres"]), async = Median(rates["postgres-async"]);
        Console.WriteLine();
        Console.WriteLine("| measure | figure | beside it |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| Empty tasks end to end, one manager, SQLite store (median of {rounds}; {tasks:N0} tasks, {Workers} workers × {Slots} slots) | {sqlite:N0} tasks/s | rounds: {string.Join(", ", rates["sqlite"].Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))} |");
        Console.WriteLine($"| Same, PostgreSQL store (private cluster on loopback) | {postgres:N0} tasks/s | rounds: {string.Join(", ", rates["postgres"].Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))}; {postgres / sqlite:N2}× SQLite |");
        Console.WriteLine($"| Same, PostgreSQL with synchronous_commit = off (no fsync wait per commit, like SQLite's synchronous = NORMAL) | {async:N0} tasks/s | rounds: {string.Join(", ", rates["postgres-async"].Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))}; {async / sqlite:N2}× SQLite |");
        Console.WriteLine($"| pgbench -b simple-update, 8 clients, 15 s, same cluster | {pgbench:N0} transactions/s | the floor: PostgreSQL store = {postgres / pgbench:N2}× pgbench's transactions/s |");
    }

    /// <summary>
    /// A database for one round. SQLite's WAL with synchronous = NORMAL does not wait for the disk at each commit (a crash
    /// of the process loses nothing, a power cut the last commits); synchronous_commit = off is PostgreSQL's like setting.
    /// </summary>
    private static async Task<string> PostgresDatabaseAsync(PostgresCluster cluster, string name, bool synchronousCommit)
    {
        string connectionString = await cluster.CreateDatabaseAsync(name);
        if (!synchronousCommit)
        {
            await using var connection = new Npgsql.NpgsqlConnection(cluster.ConnectionString("postgres"));
            await connection.OpenAsync();
            // The name was made here from a constant and the round number: a plain identifier.
            await using var set = new Npgsql.NpgsqlCommand($"ALTER DATABASE {name} SET synchronous_commit = off", connection);
            await set.ExecuteNonQueryAsync();
        }

        return connectionString;
    }

    /// <summary>Tasks per second from the job's insert returning to every result stored (the SQL status query says so).</summary>
    private static async Task<double> DispatchAsync(IJobStore store, int taskCount, Func<string, string> account, Func<string, string, XmppClientOptions> options)
    {
        string managerJid = account("smgr");
        var workerJids = Enumerable.Range(0, Workers).Select(_ => account("sw")).ToArray();
        await using var manager = new JobManager(new JobManagerOptions
        {
            Xmpp = options(managerJid, "manager"),
            ManagerId = "bench",
            WorkerAllow = workerJids,
            MaxBatch = Slots,
        }, store);
        await manager.StartAsync();
        var workers = new List<JobWorker>();
        try
        {
            foreach (string jid in workerJids)
            {
                var w = new JobWorker(new JobWorkerOptions { Xmpp = options(jid, "w"), Managers = [managerJid], Slots = Slots, SubscribeToManagers = false });
                await w.StartAsync();
                workers.Add(w);
            }

            while (manager.Workers.Count < Workers)
            {
                await Task.Delay(10);
            }

            await RunJobAsync(store, manager, 2000);
            return await RunJobAsync(store, manager, taskCount);
        }
        finally
        {
            foreach (var w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    private static async Task<double> RunJobAsync(IJobStore store, JobManager manager, int taskCount)
    {
        long job = await store.AddJobAsync(new JobSpec { Owner = "bench", Command = "moat:noop", Arguments = ["{task}"], Tasks = taskCount });
        var clock = Stopwatch.StartNew();
        manager.Wake();
        while ((await store.GetStatusAsync(job))!.Done < taskCount)
        {
            await Task.Delay(5);
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException("dispatch did not finish within 5 minutes");
            }
        }

        double rate = taskCount / clock.Elapsed.TotalSeconds;
        if (await store.CountResultsAsync(job) != taskCount)
        {
            throw new InvalidOperationException("a task was recorded other than once");
        }

        return rate;
    }

    /// <summary>pgbench's built-in simple-update; the rate is counted from its per-transaction log (-l), not its summary text.</summary>
    private static async Task<double> PgbenchAsync(PostgresCluster cluster)
    {
        string db = "pgbench";
        await cluster.CreateDatabaseAsync(db);
        string logs = Directory.CreateTempSubdirectory("moat-pgbench-").FullName;
        try
        {
            await RunAsync(["-i", "-q", "-s", "10", db], logs);
            const int Seconds = 15;
            await RunAsync(["-b", "simple-update", "-c", "8", "-j", "2", "-T", Seconds.ToString(CultureInfo.InvariantCulture), "-l", "--log-prefix", Path.Combine(logs, "tx"), db], logs);
            long transactions = 0;
            foreach (string file in Directory.GetFiles(logs, "tx*"))
            {
                transactions += File.ReadLines(file).LongCount();
            }

            return transactions / (double)Seconds;
        }
        finally
        {
            Directory.Delete(logs, recursive: true);
        }

        async Task RunAsync(string[] arguments, string workingDirectory)
        {
            var start = new ProcessStartInfo("pgbench") { UseShellExecute = false, WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { "-h", cluster.Address, "-p", cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", cluster.User }.Concat(arguments))
            {
                start.ArgumentList.Add(a);
            }

            // The password goes by environment, never on the command line.
            start.Environment["PGPASSWORD"] = cluster.Password;
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = await p.StandardError.ReadToEndAsync();
            await stdout;
            await p.WaitForExitAsync();
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"pgbench {string.Join(' ', arguments)} exited {p.ExitCode}: {stderr}");
            }
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
