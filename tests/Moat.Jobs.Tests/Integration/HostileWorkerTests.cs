using System.Globalization;
using System.Runtime.Versioning;
using System.Xml.Linq;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Tests.Integration;

/// <summary>
/// Accounts on the fabric that are not workers, and workers that lie: none of them gets a task it was not given, records
/// a result it was not asked for, counts twice, takes more than its share, or leaves a batch stuck.
/// </summary>
[Collection(FabricCollection.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class HostileWorkerTests(FabricFixture fabric) : IAsyncLifetime
{
    private static readonly XNamespace Jobs = "urn:moat:jobs:0";
    private static readonly XNamespace Client = "jabber:client";
    private readonly string storePath = Path.Combine(Path.GetTempPath(), $"moat-hostile-{Guid.NewGuid():N}.db");
    private readonly string gate = Path.Combine(Path.GetTempPath(), $"moat-gate-{Guid.NewGuid():N}");
    private readonly List<IAsyncDisposable> owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned))
        {
            await d.DisposeAsync();
        }

        foreach (var f in new[] { storePath, storePath + "-wal", storePath + "-shm", gate })
        {
            File.Delete(f);
        }
    }

    [Fact]
    public async Task An_account_not_on_the_allow_list_is_ignored_and_receives_no_task()
    {
        var (store, manager, managerJid) = await StartManagerAsync("h1");
        await Own(fabric.Worker(managerJid, slots: 2)).StartAsync();
        await WaitForAsync(() => manager.Workers.Count == 1, "the manager sees its worker");

        // A host's account (not a worker) announces 64 slots to the manager, as in issue 14.
        var intruder = await FakeWorkerAsync(fabric.NewAccount("host"), "agent", managerJid, 64, (_, _) => null);
        await WaitForAsync(() => manager.Counters.RefusedWorkers >= 1 || manager.Workers.Count == 2, "the manager has taken the intruder's announcement in");

        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 20 });
        manager.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 20, "every task is done");
        await AssertEveryResultOnceAsync(store, job, 20);
        Assert.Equal(0, intruder.TasksReceived);
        Assert.Equal(1, manager.Counters.RefusedWorkers);
        Assert.DoesNotContain(manager.Workers, w => w.Jid.StartsWith(intruder.Account, StringComparison.Ordinal));
        Assert.All((await store.GetLogsAsync(job, null)).Select(l => l.Worker!), w => Assert.DoesNotContain(intruder.Account, w, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Results_forged_for_another_workers_tasks_are_refused_and_the_real_worker_completes_them(bool sameAccount)
    {
        var (store, manager, managerJid) = await StartManagerAsync(sameAccount ? "h2b" : "h2a");
        string honestAccount = fabric.NextWorkerAccount(managerJid);
        await Own(fabric.Worker(managerJid, honestAccount, "w", slots: 4)).StartAsync();
        await WaitForAsync(() => manager.Workers.Count == 1, "the manager sees the honest worker");

        // The honest worker's tasks wait for the gate, so they are dispatched (and forgeable) when the forger answers.
        long job = await store.AddJobAsync(new JobSpec
        {
            Owner = "alice@x", Command = "/bin/sh", Arguments = ["-c", $"while [ ! -e {gate} ]; do sleep 0.01; done; echo {{task}}"], Tasks = 8,
        });
        manager.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Dispatched == 4, "the honest worker holds four tasks");

        // An allow-listed worker (another account, or another resource of the honest worker's own account) answers its
        // own task truthfully and claims every other task of the job as done with exit 0.
        string forgerAccount = sameAccount ? honestAccount : fabric.NextWorkerAccount(managerJid);
        var forger = await FakeWorkerAsync(forgerAccount, "forger", managerJid, 1, (run, _) =>
        {
            var mine = run.Elements(Jobs + "task").Single();
            long myId = long.Parse(mine.Attribute("id")!.Value, CultureInfo.InvariantCulture);
            var results = new XElement(Jobs + "results", Result(myId, int.Parse(mine.Attribute("attempt")!.Value, CultureInfo.InvariantCulture), 0, mine.Attribute("index")!.Value + "\n"));
            for (long id = 1; id <= 8; id++)
            {
                if (id != myId)
                {
                    results.Add(Result(id, 1, 0, "forged"));
                }
            }

            return results;
        });
        await WaitForAsync(async () => manager.Counters.RefusedResults >= 4 || (await store.GetStatusAsync(job))!.Done > 1, "the manager has handled the forger's answer");
        Assert.Equal(1, forger.TasksReceived);
        Assert.Equal(0, (await store.GetStatusAsync(job))!.Failed);
        Assert.Equal(1, (await store.GetStatusAsync(job))!.Done);

        await File.WriteAllTextAsync(gate, string.Empty);
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 8, "the honest worker completes every task");
        await AssertEveryResultOnceAsync(store, job, 8);
        Assert.DoesNotContain(manager.Workers, w => w.Jid.EndsWith("/forger", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Absurd_duplicate_and_never_dispatched_results_are_refused_counted_and_run_again()
    {
        var (store, manager, managerJid) = await StartManagerAsync("h3");
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 3 });
        var liar = await FakeWorkerAsync(fabric.NextWorkerAccount(managerJid), "liar", managerJid, 3, (run, _) =>
        {
            var tasks = run.Elements(Jobs + "task").Select(t => (
                Id: long.Parse(t.Attribute("id")!.Value, CultureInfo.InvariantCulture),
                Attempt: int.Parse(t.Attribute("attempt")!.Value, CultureInfo.InvariantCulture),
                Index: t.Attribute("index")!.Value)).OrderBy(t => t.Id).ToArray();
            return new XElement(Jobs + "results",
                Result(tasks[0].Id, tasks[0].Attempt, 70000, tasks[0].Index + "\n"),             // no process exits 70000
                Result(tasks[1].Id, tasks[1].Attempt, 0, new string('x', 200 * 1024)),          // output over the limit
                Result(tasks[2].Id, tasks[2].Attempt, 0, tasks[2].Index + "\n"),                // the one honest result
                Result(tasks[2].Id, tasks[2].Attempt, 0, "duplicate"),                          // the same task again
                Result(999_999, 1, 0, "never dispatched"),                                      // a task nobody was given
                Result(tasks[0].Id, tasks[0].Attempt + 1, 0, "a later attempt"));               // an attempt not yet made
        });
        await WaitForAsync(async () => manager.Counters.RefusedResults >= 5 || (await store.GetStatusAsync(job))! is { } s && s.Done + s.Failed == 3, "the manager has handled the liar's answer");
        Assert.Equal(1, (await store.GetStatusAsync(job))!.Done);
        Assert.Equal(0, (await store.GetStatusAsync(job))!.Failed);
        Assert.Equal(3, liar.TasksReceived);
        Assert.Contains("5 results", await WorkersTextAsync(manager), StringComparison.Ordinal);

        // The two refused tasks run again on an honest worker.
        await Own(fabric.Worker(managerJid, slots: 2)).StartAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 3, "every task is done");
        await AssertEveryResultOnceAsync(store, job, 3);
    }

    [Theory]
    [InlineData("<results xmlns='urn:moat:jobs:0'><result id='1'/></results>")]
    [InlineData("<results xmlns='urn:moat:jobs:0'><result id='one' attempt='1' exit='0'>0</result></results>")]
    [InlineData("<results xmlns='urn:moat:jobs:0'/>")]
    [InlineData("<nothing xmlns='urn:moat:test'/>")]
    public async Task A_malformed_results_answer_gets_its_batch_requeued_to_another_worker_promptly(string answer)
    {
        var (store, manager, managerJid) = await StartManagerAsync("h4");
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 4 });
        var broken = await FakeWorkerAsync(fabric.NextWorkerAccount(managerJid), "broken", managerJid, 4, (_, _) => XElement.Parse(answer));
        await WaitForAsync(() => broken.TasksReceived == 4, "the broken worker gets the batch");
        await Own(fabric.Worker(managerJid, slots: 2)).StartAsync();

        // Promptly: the broken worker stays online, and each task's own timeout is ten minutes.
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 4, "the batch is done by the honest worker", TimeSpan.FromSeconds(20));
        await AssertEveryResultOnceAsync(store, job, 4);
        Assert.Equal(4, broken.TasksReceived);
        Assert.True(manager.Counters.MalformedAnswers + manager.Counters.RefusedResults >= 1);
    }

    [Fact]
    public async Task Two_resources_of_one_account_never_count_as_two_replicas_of_a_task()
    {
        var (store, manager, managerJid) = await StartManagerAsync("h5");
        string account = fabric.NextWorkerAccount(managerJid);
        await Own(fabric.Worker(managerJid, account, "r1", slots: 4)).StartAsync();
        await Own(fabric.Worker(managerJid, account, "r2", slots: 4)).StartAsync();
        await WaitForAsync(() => manager.Workers.Count == 2, "the manager sees both resources");
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 3, Redundancy = 2 });
        manager.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done >= 3, "one replica of each task is done");

        // A second, independent account gives the second vote.
        await Own(fabric.Worker(managerJid, slots: 4)).StartAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 6, "both replicas of each task are done");
        var logs = await store.GetLogsAsync(job, null);
        foreach (var replicas in logs.GroupBy(l => l.Index))
        {
            var accounts = replicas.Select(l => Jid.Parse(l.Worker!).Bare.ToString()).ToList();
            Assert.Equal(2, accounts.Distinct().Count());
        }

        Assert.Equal(0, (await store.GetStatusAsync(job))!.Mismatches);
    }

    [Fact]
    public async Task A_worker_claiming_a_million_slots_gets_only_its_bounded_share()
    {
        var (store, manager, managerJid) = await StartManagerAsync("h6", o => o with { MaxWorkerSlots = 8 });
        string greedy = fabric.NextWorkerAccount(managerJid);
        var hold = new TaskCompletionSource<XElement?>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Two resources of one account, each claiming a million slots and never answering.
        var a = await FakeWorkerAsync(greedy, "g1", managerJid, 1_000_000, (_, _) => null, hold.Task);
        var b = await FakeWorkerAsync(greedy, "g2", managerJid, 1_000_000, (_, _) => null, hold.Task);
        await WaitForAsync(() => manager.Workers.Count == 2, "the manager sees both greedy resources");
        Assert.All(manager.Workers, w => Assert.Equal(8, w.Slots));

        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 40 });
        manager.Wake();
        await WaitForAsync(() => a.TasksReceived + b.TasksReceived == 8, "the greedy account holds its eight tasks");
        await Own(fabric.Worker(managerJid, slots: 4)).StartAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 32, "an honest worker does the rest");
        Assert.Equal(8, a.TasksReceived + b.TasksReceived);
        hold.TrySetResult(null);
    }

    [Fact]
    public async Task A_roster_group_decides_who_is_a_worker_and_leaving_it_drops_the_worker()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        var manager = Own(new JobManager(fabric.ManagerOptions(managerJid, "h7", "alice@x") with { WorkerAllow = ["group:workers"] }, store));
        await manager.StartAsync();
        string member = fabric.NewAccount("worker"), outsider = fabric.NewAccount("worker");
        await Own(fabric.Worker(managerJid, member, "w", slots: 2)).StartAsync();
        await Own(fabric.Worker(managerJid, outsider, "w", slots: 2)).StartAsync();
        await WaitForAsync(() => manager.Counters.RefusedWorkers >= 2, "neither account is a worker yet");
        Assert.Empty(manager.Workers);

        // The operator files one account under the group from another session of the manager's account.
        var operatorSession = Own(new XmppClient(fabric.Xmpp(managerJid, "operator")));
        await operatorSession.ConnectAsync();
        await operatorSession.SetRosterItemAsync(member, null, ["workers"]);
        await WaitForAsync(() => manager.Workers.Count == 1, "the group member is taken as a worker");
        Assert.Equal(member + "/w", Assert.Single(manager.Workers).Jid);

        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/echo", Arguments = ["{task}"], Tasks = 10 });
        manager.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 10, "every task is done");
        await AssertEveryResultOnceAsync(store, job, 10);
        Assert.All(await store.GetLogsAsync(job, null), l => Assert.Equal(member + "/w", l.Worker));

        await operatorSession.SetRosterItemAsync(member, null, ["people"]);
        await WaitForAsync(() => manager.Workers.Count == 0, "the account that left the group is dropped");
    }

    private static XElement Result(long id, int attempt, int exit, string output) =>
        new(Jobs + "result", new XAttribute("id", id), new XAttribute("attempt", attempt), new XAttribute("exit", exit), new XAttribute("timed-out", "false"), output);

    private static async Task<string> WorkersTextAsync(JobManager manager)
    {
        var reply = await manager.Client.IqAsync(new XElement(Client + "iq", new XAttribute("type", "get"), new XAttribute("to", manager.Client.BoundJid!.ToString()),
            new XElement(Jobs + "command", "workers")), TimeSpan.FromSeconds(10));
        return reply.Element(Jobs + "reply")!.Value;
    }

    private async Task<(IJobStore Store, JobManager Manager, string ManagerJid)> StartManagerAsync(string id, Func<JobManagerOptions, JobManagerOptions>? configure = null)
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        var options = fabric.ManagerOptions(managerJid, id, "alice@x");
        var manager = Own(new JobManager(configure is null ? options : configure(options), store));
        await manager.StartAsync();
        return (store, manager, managerJid);
    }

    /// <summary>A hand-driven worker: announces itself with <paramref name="slots"/> and answers each run with <paramref name="answer"/>
    /// (after <paramref name="wait"/> when given; a null answer sends nothing back).</summary>
    private async Task<FakeWorker> FakeWorkerAsync(string account, string resource, string managerJid, int slots,
        Func<XElement, XElement, XElement?> answer, Task<XElement?>? wait = null)
    {
        var client = Own(new XmppClient(fabric.Xmpp(account, resource) with { Reconnect = false }));
        var fake = new FakeWorker(Jid.Parse(account).Bare.ToString());
        client.IqHandler = async iq =>
        {
            var run = iq.Element(Jobs + "run");
            if (run is null)
            {
                return null;
            }

            Interlocked.Add(ref fake.Received, run.Elements(Jobs + "task").Count());
            if (wait is not null && await wait is null)
            {
                return null;
            }

            var payload = answer(run, iq);
            return payload is null ? null : XmppClient.ResultFor(iq, payload);
        };
        await client.ConnectAsync();
        await client.SendAsync(new XElement(Client + "presence", new XAttribute("to", managerJid + "/manager"),
            new XElement(Jobs + "worker", new XAttribute("slots", slots), new XAttribute("labels", string.Empty), new XAttribute("memory", 0), new XAttribute("cpus", 1))));
        return fake;
    }

    private T Own<T>(T item)
        where T : IAsyncDisposable
    {
        owned.Add(item);
        return item;
    }

    private static Task WaitForAsync(Func<bool> condition, string what, TimeSpan? within = null) =>
        WaitForAsync(() => Task.FromResult(condition()), what, within);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }

    private static async Task AssertEveryResultOnceAsync(IJobStore store, long job, int tasks)
    {
        var status = await store.GetStatusAsync(job);
        Assert.Equal(tasks, status!.Done);
        Assert.Equal(tasks, await store.CountResultsAsync(job));
        var logs = await store.GetLogsAsync(job, null);
        Assert.Equal(Enumerable.Range(0, tasks), logs.Select(l => l.Index));
        Assert.All(logs, l => Assert.Equal(l.Index.ToString(CultureInfo.InvariantCulture), l.Output!.Trim()));
    }

    private sealed class FakeWorker(string account)
    {
        public int Received;

        public string Account { get; } = account;

        public int TasksReceived => Volatile.Read(ref Received);
    }
}
