// Macro benchmark of the XMPP fabric: Prosody's one-way message ceiling, end-to-end dispatch of empty tasks,
// time from a worker's death to its task running elsewhere, and connected workers held by one manager.
// Usage: dotnet run -c Release --project bench/Moat.Xmpp.Bench -- [workers=10000] [tasks=50000]
//        dotnet run -c Release --project bench/Moat.Xmpp.Bench -- fabric STATE_DIR   (hosts on the fabric; see FabricBench)
//        dotnet run -c Release --project bench/Moat.Xmpp.Bench -- store [tasks] [rounds] (SQLite vs PostgreSQL job store; see StoreBench)
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

[assembly: SupportedOSPlatform("linux")]

if (args is ["store", ..])
{
    await Moat.Xmpp.Bench.StoreBench.RunAsync(args[1..]);
    return;
}

if (args is ["fabric", ..])
{
    await Moat.Xmpp.Bench.FabricBench.RunAsync(args[1..]);
    return;
}

int fleet = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
int taskCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50_000;
const string Password = "bench-pw";

await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with { FileLimit = 20000 });
string dbPath = Path.Combine(Path.GetTempPath(), $"moat-bench-{Guid.NewGuid():N}.db");
var rows = new List<(string What, string Figure, string Beside)>();
int accounts = 0;

string Account(string prefix)
{
    string user = prefix + Interlocked.Increment(ref accounts).ToString(CultureInfo.InvariantCulture);
    server.AddAccount(user, Password);
    return $"{user}@{server.Domain}";
}

XmppClientOptions Options(string jid, string? resource = null) => XmppClientOptions.Default with
{
    Host = server.Address,
    Port = server.Port,
    Jid = jid,
    Password = Password,
    Resource = resource,
    Tls = TlsMode.Disabled,
    Mechanisms = ["SCRAM-SHA-1"],
    ConnectTimeout = TimeSpan.FromSeconds(60),
    IqTimeout = TimeSpan.FromSeconds(60),
};

try
{
    double noSm = await MessageCeilingAsync(sm: false);
    rows.Add(("Prosody one-way messages/s, XEP-0198 off", $"{noSm:N0}", "peer-baselines §6: 15,303 (python client, quiet machine)"));
    double ceiling = await MessageCeilingAsync(sm: true);
    rows.Add(("Prosody one-way messages/s (two Moat clients, 200k chat stanzas, XEP-0198 on as in dispatch)", $"{ceiling:N0}", "peer-baselines §6: 15,303 (python client)"));
    await DispatchAsync(ceiling);
    await FailoverAsync();
    await FleetAsync(ceiling);
}
finally
{
    foreach (var f in new[] { dbPath, dbPath + "-wal", dbPath + "-shm" })
    {
        File.Delete(f);
    }
}

Console.WriteLine();
Console.WriteLine("| measure | figure | beside it |");
Console.WriteLine("|---|---|---|");
foreach (var (what, figure, beside) in rows)
{
    Console.WriteLine($"| {what} | {figure} | {beside} |");
}

async Task<double> MessageCeilingAsync(bool sm)
{
    const int N = 200_000;
    await using var a = new XmppClient(Options(Account("ma"), "a") with { StreamManagement = sm });
    await using var b = new XmppClient(Options(Account("mb"), "b") with { StreamManagement = sm });
    int received = 0;
    var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    long first = 0;
    b.MessageReceived += _ =>
    {
        if (Interlocked.Increment(ref received) == 1)
        {
            first = Stopwatch.GetTimestamp();
        }

        if (received == N)
        {
            all.TrySetResult();
        }
    };
    await a.ConnectAsync();
    await b.ConnectAsync();
    string to = b.BoundJid!.ToString();
    for (int i = 0; i < N; i++)
    {
        await a.SendRawAsync($"<message to='{to}' type='chat' id='m{i}'><body>job {i} payload-0123456789</body></message>");
    }

    await all.Task.WaitAsync(TimeSpan.FromSeconds(120));
    double rate = (N - 1) / Stopwatch.GetElapsedTime(first).TotalSeconds;
    Console.WriteLine($"ceiling (sm={sm}): {rate:N0} msg/s");
    return rate;
}

async Task DispatchAsync(double ceiling)
{
    const int Workers = 40, Slots = 64;
    await using var store = await SqliteJobStore.OpenAsync(dbPath);
    string managerJid = Account("mgr");
    var workerJids = Enumerable.Range(0, Workers).Select(_ => Account("dw")).ToArray();
    var latencies = new List<(int Count, double Ms)>();
    await using var manager = new JobManager(new JobManagerOptions
    {
        Xmpp = Options(managerJid, "manager"),
        ManagerId = "bench",
        WorkerAllow = workerJids,
        MaxBatch = Slots,
        BatchCompleted = (n, t) => { lock (latencies) { latencies.Add((n, t.TotalMilliseconds)); } },
    }, store);
    await manager.StartAsync();
    var workers = new List<JobWorker>();
    for (int i = 0; i < Workers; i++)
    {
        var w = new JobWorker(new JobWorkerOptions { Xmpp = Options(workerJids[i], "w"), Managers = [managerJid], Slots = Slots, SubscribeToManagers = false });
        await w.StartAsync();
        workers.Add(w);
    }

    while (manager.Workers.Count < Workers)
    {
        await Task.Delay(10);
    }

    // Warm-up job, then the measured one.
    long warm = await store.AddJobAsync(new JobSpec { Owner = "bench", Command = "moat:noop", Arguments = ["{task}"], Tasks = 2000 });
    manager.Wake();
    while ((await store.GetStatusAsync(warm))!.Done < 2000)
    {
        await Task.Delay(5);
    }

    lock (latencies)
    {
        latencies.Clear();
    }

    var clock = Stopwatch.StartNew();
    long job = await store.AddJobAsync(new JobSpec { Owner = "bench", Command = "moat:noop", Arguments = ["{task}"], Tasks = taskCount });
    double insertMs = clock.Elapsed.TotalMilliseconds;
    clock.Restart();
    manager.Wake();
    while ((await store.GetStatusAsync(job))!.Done < taskCount)
    {
        await Task.Delay(5);
        if (clock.Elapsed > TimeSpan.FromMinutes(5))
        {
            throw new TimeoutException("dispatch did not finish within 5 minutes");
        }
    }

    double seconds = clock.Elapsed.TotalSeconds;
    int results = await store.CountResultsAsync(job);
    double rate = taskCount / seconds;
    var perTask = latencies.SelectMany(l => Enumerable.Repeat(l.Ms, l.Count)).Order().ToArray();
    double avgBatch = latencies.Count == 0 ? 0 : latencies.Average(l => l.Count);
    Console.WriteLine($"dispatch: {rate:N0} tasks/s, {results} results for {taskCount} tasks, avg batch {avgBatch:N1}");
    rows.Add(($"Empty tasks end to end ({taskCount:N0} tasks, {Workers} workers × {Slots} slots, result stored)", $"{rate:N0} tasks/s",
        $"2 stanzas per batch of {avgBatch:N1} tasks ⇒ ceiling ≈ {ceiling * avgBatch / 2:N0} tasks/s; Kestrel ≈ 450 dispatches/s"));
    rows.Add(("Per-task latency p50 / p99 (dispatch IQ sent → result stored)", $"{Pct(perTask, 50):N2} / {Pct(perTask, 99):N2} ms", "Prosody IQ client→client p50 0.44 ms (§6)"));
    rows.Add(("Job insert (store)", $"{insertMs:N0} ms for {taskCount:N0} tasks", "SQLite WAL, one transaction"));
    foreach (var w in workers)
    {
        await w.DisposeAsync();
    }
}

async Task FailoverAsync()
{
    await using var store = await SqliteJobStore.OpenAsync(dbPath);
    string managerJid = Account("fmgr");
    string doomedJid = Account("fw"), rescuerJid = Account("fr");
    await using var manager = new JobManager(new JobManagerOptions { Xmpp = Options(managerJid, "manager"), ManagerId = "failover", WorkerAllow = [doomedJid, rescuerJid] }, store);
    await manager.StartAsync();
    var samples = new List<double>();
    for (int round = 0; round < 5; round++)
    {
        var doomed = new JobWorker(new JobWorkerOptions { Xmpp = Options(doomedJid, "w" + round.ToString(CultureInfo.InvariantCulture)) with { Reconnect = false }, Managers = [managerJid], Slots = 1, SubscribeToManagers = false });
        await doomed.StartAsync();
        while (manager.Workers.Count < 1)
        {
            await Task.Delay(1);
        }

        long job = await store.AddJobAsync(new JobSpec { Owner = "bench", Command = "/bin/sleep", Arguments = ["30"], Tasks = 1 });
        manager.Wake();
        while ((await store.GetStatusAsync(job))!.Dispatched < 1)
        {
            await Task.Delay(1);
        }

        await using var rescuer = new JobWorker(new JobWorkerOptions { Xmpp = Options(rescuerJid, "w" + round.ToString(CultureInfo.InvariantCulture)), Managers = [managerJid], Slots = 1, SubscribeToManagers = false });
        await rescuer.StartAsync();
        while (manager.Workers.Count < 2)
        {
            await Task.Delay(1);
        }

        var clock = Stopwatch.StartNew();
        await doomed.CrashAsync();
        while (rescuer.Running < 1)
        {
            await Task.Delay(1);
        }

        samples.Add(clock.Elapsed.TotalMilliseconds);
        await store.CancelAsync(job, "bench", isAdmin: true);
    }

    samples.Sort();
    Console.WriteLine($"failover: {string.Join(", ", samples.Select(s => s.ToString("N1", CultureInfo.InvariantCulture)))} ms");
    rows.Add(("Worker killed (socket reset) → its task running on another worker, median of 5", $"{samples[2]:N1} ms (min {samples[0]:N1}, max {samples[4]:N1})",
        "includes fork+exec of the task (0.6 ms floor)"));
}

async Task FleetAsync(double ceiling)
{
    await using var store = await SqliteJobStore.OpenAsync(dbPath);
    string managerJid = Account("fleetmgr");
    var jids = Enumerable.Range(0, fleet).Select(_ => Account("fleet")).ToArray();
    await using var manager = new JobManager(new JobManagerOptions { Xmpp = Options(managerJid, "manager"), ManagerId = "fleet", PollInterval = TimeSpan.FromSeconds(5), WorkerAllow = jids }, store);
    await manager.StartAsync();
    var workers = new JobWorker?[fleet];
    var clock = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(240);
    int failures = 0;
    await Parallel.ForEachAsync(Enumerable.Range(0, fleet), new ParallelOptions { MaxDegreeOfParallelism = 48 }, async (i, ct) =>
    {
        if (clock.Elapsed > deadline)
        {
            return;
        }

        var w = new JobWorker(new JobWorkerOptions
        {
            Xmpp = Options(jids[i], "w") with { Reconnect = false },
            Managers = [managerJid],
            Slots = 1,
            SubscribeToManagers = false,
        });
        try
        {
            await w.StartAsync(ct);
            workers[i] = w;
        }
        catch (Moat.Xmpp.XmppException)
        {
            Interlocked.Increment(ref failures);
            await w.DisposeAsync();
        }
    });
    double ramp = clock.Elapsed.TotalSeconds;
    int connected = workers.Count(w => w is not null);
    while (manager.Workers.Count < connected && clock.Elapsed < deadline + TimeSpan.FromSeconds(60))
    {
        await Task.Delay(50);
    }

    int seen = manager.Workers.Count;
    long rssKb = ProsodyRssKb();
    Console.WriteLine($"fleet: {connected} connected, {seen} seen by the manager, ramp {ramp:N1} s, {failures} failures, prosody RSS {rssKb / 1024} MB");
    rows.Add(($"Workers connected and seen by one manager (target {fleet:N0})", $"{seen:N0} (ramp {ramp:N0} s, {failures} failed logins)",
        $"Kestrel: 1,600 seen at once; Prosody RSS {rssKb / 1024:N0} MB"));

    // A short dispatch over the whole fleet: every worker gets one empty task.
    if (seen > 0)
    {
        var c = Stopwatch.StartNew();
        long job = await store.AddJobAsync(new JobSpec { Owner = "bench", Command = "moat:noop", Tasks = seen });
        manager.Wake();
        while ((await store.GetStatusAsync(job))!.Done < seen && c.Elapsed < TimeSpan.FromSeconds(120))
        {
            await Task.Delay(10);
        }

        int done = (await store.GetStatusAsync(job))!.Done;
        rows.Add(($"One empty task on each of the {seen:N0} workers (batch of 1 per worker)", $"{done:N0} done in {c.Elapsed.TotalSeconds:N1} s = {done / c.Elapsed.TotalSeconds:N0} tasks/s",
            $"ceiling with 2 stanzas per task ≈ {ceiling / 2:N0} tasks/s"));
    }

    await Parallel.ForEachAsync(workers, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (w, _) =>
    {
        if (w is not null)
        {
            await w.DisposeAsync();
        }
    });
}

long ProsodyRssKb()
{
    foreach (var p in Process.GetProcessesByName("lua5.4").Concat(Process.GetProcessesByName("lua5.2")).Concat(Process.GetProcessesByName("prosody")))
    {
        try
        {
            if (File.ReadAllText($"/proc/{p.Id}/cmdline").Contains(server.ConfigPath, StringComparison.Ordinal))
            {
                return p.WorkingSet64 / 1024;
            }
        }
        catch (IOException)
        {
            // The process ended between listing and reading.
        }
    }

    return 0;
}

static double Pct(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Round(p / 100 * (sorted.Length - 1)))];
