using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.Versioning;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;

namespace Moat.Jobs.Tests.Integration;

[CollectionDefinition(Name)]
public sealed class FabricPostgresCollection : ICollectionFixture<FabricFixture>, ICollectionFixture<PostgresFixture>
{
    public const string Name = "fabric+postgres";
}

/// <summary>Several managers on one PostgreSQL job store, with real workers over a real Prosody.</summary>
[Collection(FabricPostgresCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class SharedPostgresStoreTests(FabricFixture fabric, PostgresFixture postgres) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> owned = [];
    private string connectionString = null!;

    public async Task InitializeAsync() => connectionString = await postgres.NewDatabaseAsync();

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned))
        {
            await d.DisposeAsync();
        }
    }

    private T Own<T>(T item)
        where T : IAsyncDisposable
    {
        owned.Add(item);
        return item;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what, int seconds = 90)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Two managers (own accounts, own store connections, one database) and workers serving both.</summary>
    private async Task<(JobManager A, JobManager B, IJobStore Store, ConcurrentDictionary<string, int> Dispatched)> StartAsync(int workers, TimeSpan lease)
    {
        string jidA = fabric.NewAccount("manager");
        string jidB = fabric.NewAccount("manager");
        var dispatched = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var allow = fabric.ManagerOptions(jidA, "a", "alice@x").WorkerAllow;
        async Task<JobManager> ManagerAsync(string jid, string id)
        {
            // Each manager has its own connections to the database, as managers on different machines do.
            var store = Own(await PostgresJobStore.OpenAsync(connectionString));
            return Own(new JobManager(fabric.ManagerOptions(jid, id, "alice@x") with
            {
                WorkerAllow = allow,
                Lease = lease,
                BatchCompleted = (tasks, _) => dispatched.AddOrUpdate(id, tasks, (_, n) => n + tasks),
            }, store));
        }

        var a = await ManagerAsync(jidA, "a");
        var b = await ManagerAsync(jidB, "b");
        await a.StartAsync();
        await b.StartAsync();
        for (int i = 0; i < workers; i++)
        {
            var w = Own(new JobWorker(new JobWorkerOptions
            {
                Xmpp = fabric.Xmpp(fabric.NextWorkerAccount(jidA), "w") with { Reconnect = false },
                Managers = [jidA, jidB],
                Slots = 4,
            }));
            await w.StartAsync();
        }

        await WaitForAsync(() => Task.FromResult(a.Workers.Count == workers && b.Workers.Count == workers), $"both managers see {workers} workers");
        return (a, b, Own(await PostgresJobStore.OpenAsync(connectionString)), dispatched);
    }

    private static async Task AssertEveryResultOnceAsync(IJobStore store, long job, int tasks)
    {
        Assert.Equal(tasks, (await store.GetStatusAsync(job))!.Done);
        Assert.Equal(tasks, await store.CountResultsAsync(job));
        var logs = await store.GetLogsAsync(job, null);
        Assert.Equal(Enumerable.Range(0, tasks), logs.Select(l => l.Index));
        Assert.All(logs, l => Assert.Equal(l.Index.ToString(CultureInfo.InvariantCulture), l.Output!.Trim()));
    }

    [Fact]
    public async Task Two_managers_racing_on_one_job_dispatch_every_task_exactly_once()
    {
        var (a, b, store, dispatched) = await StartAsync(workers: 8, TimeSpan.FromSeconds(30));
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/sh", Arguments = ["-c", "sleep 0.02; echo {task}"], Tasks = 300 });
        a.Wake();
        b.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 300, "every task is done");
        await AssertEveryResultOnceAsync(store, job, 300);
        // Dispatches per task, read from the store: the attempt counter moves once per dispatch.
        Assert.All(await store.GetLogsAsync(job, null), l => Assert.Equal(1, l.Attempt));
        Assert.Equal(300, dispatched.Values.Sum());
        Assert.True(dispatched.GetValueOrDefault("a") > 0 && dispatched.GetValueOrDefault("b") > 0,
            $"both managers dispatched (a: {dispatched.GetValueOrDefault("a")}, b: {dispatched.GetValueOrDefault("b")})");
    }

    [Fact]
    public async Task A_manager_killed_mid_job_has_its_tasks_taken_over_after_its_lease_and_nothing_is_lost()
    {
        var (a, b, store, _) = await StartAsync(workers: 6, TimeSpan.FromSeconds(2));
        // Tasks long enough (0.5 s) that manager a surely holds some in flight when it dies, however loaded the machine.
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/sh", Arguments = ["-c", "sleep 0.5; echo {task}"], Tasks = 120 });
        a.Wake();
        b.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done >= 24 && a.Workers.Sum(w => w.Busy) > 0, "a fifth is done and manager a holds tasks");
        await a.CrashAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 120, "every task is done after manager a died");
        await AssertEveryResultOnceAsync(store, job, 120);
        // What a held when it died was dispatched again (by b, after a's lease); nothing else was.
        var logs = await store.GetLogsAsync(job, null);
        string attempts = string.Join(", ", logs.GroupBy(l => l.Attempt).OrderBy(g => g.Key).Select(g => $"{g.Count()} tasks at attempt {g.Key}"));
        Assert.True(logs.Any(l => l.Attempt == 2), $"no task was taken over: {attempts}");
        Assert.True(logs.All(l => l.Attempt is 1 or 2), $"a task was dispatched more than twice: {attempts}");
    }
}
