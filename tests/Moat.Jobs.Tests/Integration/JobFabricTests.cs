using System.Globalization;
using System.Runtime.Versioning;
using System.Threading.Channels;
using System.Xml.Linq;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Tests.Integration;

[Collection(FabricCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class JobFabricTests(FabricFixture fabric) : IAsyncLifetime
{
    private readonly string storePath = Path.Combine(Path.GetTempPath(), $"moat-fabric-{Guid.NewGuid():N}.db");
    private readonly List<IAsyncDisposable> owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(owned))
        {
            await d.DisposeAsync();
        }

        foreach (var f in new[] { storePath, storePath + "-wal", storePath + "-shm" })
        {
            File.Delete(f);
        }
    }

    private T Own<T>(T item)
        where T : IAsyncDisposable
    {
        owned.Add(item);
        return item;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
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

    [Fact]
    public async Task A_200_task_job_completes_exactly_once_while_workers_are_killed_half_way()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        var manager = Own(fabric.Manager(managerJid, store, "m1", "alice@x"));
        await manager.StartAsync();
        var workers = new List<JobWorker>();
        for (int i = 0; i < 6; i++)
        {
            var w = Own(fabric.Worker(managerJid, slots: 4));
            await w.StartAsync();
            workers.Add(w);
        }

        await WaitForAsync(() => Task.FromResult(manager.Workers.Count == 6), "the manager sees 6 workers");
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/sh", Arguments = ["-c", "sleep 0.02; echo {task}"], Tasks = 200 });
        manager.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done >= 100, "half the tasks are done");
        await workers[0].CrashAsync();
        await workers[1].CrashAsync();
        await workers[2].CrashAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 200, "every task is done");
        await AssertEveryResultOnceAsync(store, job, 200);
        Assert.Equal(3, manager.Workers.Count);
    }

    [Fact]
    public async Task A_manager_restart_mid_dispatch_loses_nothing()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        var first = fabric.Manager(managerJid, store, "m2", "alice@x");
        await first.StartAsync();
        for (int i = 0; i < 3; i++)
        {
            await Own(fabric.Worker(managerJid, slots: 4)).StartAsync();
        }

        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "/bin/sh", Arguments = ["-c", "sleep 0.05; echo {task}"], Tasks = 120 });
        first.Wake();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done >= 30, "a quarter of the tasks are done");
        await first.DisposeAsync();
        var second = Own(fabric.Manager(managerJid, store, "m2", "alice@x"));
        await second.StartAsync();
        await WaitForAsync(async () => (await store.GetStatusAsync(job))!.Done == 120, "every task is done after the restart");
        await AssertEveryResultOnceAsync(store, job, 120);
    }

    [Fact]
    public async Task People_drive_jobs_by_chat_and_get_readable_replies()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        string aliceJid = fabric.NewAccount("alice");
        string malloryJid = fabric.NewAccount("mallory");
        var manager = Own(fabric.Manager(managerJid, store, "m3", aliceJid));
        await manager.StartAsync();
        await Own(fabric.Worker(managerJid, slots: 2)).StartAsync();

        async Task<string> ChatAsync(XmppClient person, Channel<string> replies, string text)
        {
            await person.SendMessageAsync(managerJid + "/manager", text);
            return await replies.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        }

        var alice = Own(new XmppClient(fabric.Xmpp(aliceJid)));
        var mallory = Own(new XmppClient(fabric.Xmpp(malloryJid)));
        var aliceReplies = Channel.CreateUnbounded<string>();
        var malloryReplies = Channel.CreateUnbounded<string>();
        alice.MessageReceived += m => aliceReplies.Writer.TryWrite(m.Element(XName.Get("body", "jabber:client"))?.Value ?? string.Empty);
        mallory.MessageReceived += m => malloryReplies.Writer.TryWrite(m.Element(XName.Get("body", "jabber:client"))?.Value ?? string.Empty);
        await alice.ConnectAsync();
        await mallory.ConnectAsync();

        Assert.Equal("Unknown command 'launch'. Valid commands: submit, status, cancel, logs, workers, queue, help.", await ChatAsync(alice, aliceReplies, "launch everything"));
        Assert.Equal($"{malloryJid} is not allowed to submit jobs; ask an administrator to add you to the submitters.",
            await ChatAsync(mallory, malloryReplies, "submit --tasks 5 -- /bin/echo {task}"));
        Assert.Equal("Job 1 submitted: 5 tasks of /bin/echo.", await ChatAsync(alice, aliceReplies, "submit --tasks 5 -- /bin/echo {task}"));
        await WaitForAsync(async () => (await store.GetStatusAsync(1))!.Done == 5, "the chat job is done");
        Assert.StartsWith("Job 1 (/bin/echo, " + aliceJid + "): done, 5/5 done", await ChatAsync(alice, aliceReplies, "status 1"), StringComparison.Ordinal);
        Assert.Equal("There is no job 1 of yours; 'status' lists your jobs.", await ChatAsync(mallory, malloryReplies, "status 1"));
        Assert.StartsWith("task 0: done, exit 0: 0\ntask 1: done, exit 0: 1", await ChatAsync(alice, aliceReplies, "logs 1"), StringComparison.Ordinal);
        Assert.StartsWith("1 workers, ", await ChatAsync(alice, aliceReplies, "workers"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_submits_and_is_refused_for_unauthorised_users()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        string aliceJid = fabric.NewAccount("alice");
        string malloryJid = fabric.NewAccount("mallory");
        var manager = Own(fabric.Manager(managerJid, store, "m4", aliceJid));
        await manager.StartAsync();
        await Own(fabric.Worker(managerJid, slots: 4)).StartAsync();
        await WaitForAsync(() => Task.FromResult(manager.Workers.Count == 1), "the manager sees the worker");
        string[] common = ["--manager", managerJid, "--server", $"{fabric.Server.Address}:{fabric.Server.Port}", "--password-file", fabric.PasswordFile, "--no-tls"];

        int ok = await Moat.Jobs.Cli.JobCommands.Create().Parse(["submit", "--jid", aliceJid, "--tasks", "20", .. common, "--", "/bin/sh", "-c", "echo {task}"]).InvokeAsync();
        Assert.Equal(0, ok);
        var job = Assert.Single(await store.ListAsync(aliceJid, 10));
        Assert.Equal(20, job.Tasks);
        try
        {
            await WaitForAsync(async () => (await store.GetStatusAsync(job.Id))!.Done == 20, "the CLI job is done");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var logs = await store.GetLogsAsync(job.Id, null);
            throw new InvalidOperationException($"{await store.GetStatusAsync(job.Id)} workers={string.Join(';', manager.Workers)} connected={manager.Client.IsConnected} first={logs[0]}", e);
        }
        await AssertEveryResultOnceAsync(store, job.Id, 20);

        int refused = await Moat.Jobs.Cli.JobCommands.Create().Parse(["submit", "--jid", malloryJid, .. common, "--", "/bin/true"]).InvokeAsync();
        Assert.Equal(1, refused);
        Assert.Single(await store.ListAsync(null, 10));
        Assert.Equal(1, await Moat.Jobs.Cli.JobCommands.Create().Parse(["status", "1", "--jid", malloryJid, .. common]).InvokeAsync());
        Assert.Equal(0, await Moat.Jobs.Cli.JobCommands.Create().Parse(["status", "1", "--json", "--jid", aliceJid, .. common]).InvokeAsync());

        // `moat job chat` says the same words a person types in a chat client, as a chat message, with the password
        // read from a file: the manager takes the job from the chat path.
        var passwordFile = Path.Combine(Path.GetTempPath(), "moat-pw-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(passwordFile, FabricFixture.Password + "\n");
        try
        {
            string[] byFile = ["--manager", managerJid, "--server", $"{fabric.Server.Address}:{fabric.Server.Port}", "--password-file", passwordFile, "--no-tls"];
            Assert.Equal(0, await Moat.Jobs.Cli.JobCommands.Create().Parse(["chat", "--jid", aliceJid, .. byFile, "--", "submit", "--tasks", "5", "--", "/bin/echo", "{task}"]).InvokeAsync());
            var chatJob = (await store.ListAsync(aliceJid, 10)).Single(j => j.Id != job.Id);
            Assert.Equal(5, chatJob.Tasks);
            await WaitForAsync(async () => (await store.GetStatusAsync(chatJob.Id))!.Done == 5, "the chat job is done");
            await AssertEveryResultOnceAsync(store, chatJob.Id, 5);
            Assert.Equal(1, await Moat.Jobs.Cli.JobCommands.Create().Parse(["chat", "--jid", aliceJid, "--manager", managerJid, "--server", $"{fabric.Server.Address}:{fabric.Server.Port}", "--password-file", passwordFile + ".missing", "--no-tls", "--", "queue"]).InvokeAsync());
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    [Fact]
    public async Task Demo_a_cli_job_and_a_chat_job_of_1000_tasks_survive_killed_workers()
    {
        var store = Own(await SqliteJobStore.OpenAsync(storePath));
        string managerJid = fabric.NewAccount("manager");
        string aliceJid = fabric.NewAccount("alice");
        var manager = Own(fabric.Manager(managerJid, store, "m5", aliceJid));
        await manager.StartAsync();
        var workers = new List<JobWorker>();
        for (int i = 0; i < 8; i++)
        {
            var w = Own(fabric.Worker(managerJid, slots: 8));
            await w.StartAsync();
            workers.Add(w);
        }

        await WaitForAsync(() => Task.FromResult(manager.Workers.Count == 8), "the manager sees 8 workers");
        string[] common = ["--manager", managerJid, "--server", $"{fabric.Server.Address}:{fabric.Server.Port}", "--password-file", fabric.PasswordFile, "--no-tls"];
        Assert.Equal(0, await Moat.Jobs.Cli.JobCommands.Create().Parse(["submit", "--jid", aliceJid, "--tasks", "1000", .. common, "--", "/bin/echo", "{task}"]).InvokeAsync());

        var alice = Own(new XmppClient(fabric.Xmpp(aliceJid, "chat")));
        var replies = Channel.CreateUnbounded<string>();
        alice.MessageReceived += m => replies.Writer.TryWrite(m.Element(XName.Get("body", "jabber:client"))?.Value ?? string.Empty);
        await alice.ConnectAsync();
        await alice.SendMessageAsync(managerJid + "/manager", "submit --tasks 1000 -- /bin/echo {task}");
        Assert.Equal("Job 2 submitted: 1000 tasks of /bin/echo.", await replies.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15)));

        await WaitForAsync(async () => (await store.GetStatusAsync(1))!.Done + (await store.GetStatusAsync(2))!.Done >= 1000, "half of all tasks are done");
        for (int i = 0; i < 4; i++)
        {
            await workers[i].CrashAsync();
        }

        await WaitForAsync(async () => (await store.GetStatusAsync(1))!.Done == 1000 && (await store.GetStatusAsync(2))!.Done == 1000, "both jobs are done");
        await AssertEveryResultOnceAsync(store, 1, 1000);
        await AssertEveryResultOnceAsync(store, 2, 1000);
        await alice.SendMessageAsync(managerJid + "/manager", "status 2");
        Assert.StartsWith("Job 2 (/bin/echo, " + aliceJid + "): done, 1000/1000 done", await replies.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15)), StringComparison.Ordinal);
    }
}

/// <summary>Restarts its own Prosody in the middle of a job.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class ServerRestartTests
{
    [Fact]
    public async Task A_job_survives_the_xmpp_server_restarting()
    {
        string storePath = Path.Combine(Path.GetTempPath(), $"moat-restart-{Guid.NewGuid():N}.db");
        await using var server = await Moat.Xmpp.Server.ProsodyServer.StartAsync(Moat.Xmpp.Server.ProsodyOptions.Default);
        try
        {
            XmppClientOptions Xmpp(string user, string resource)
            {
                server.AddAccount(user, "pw");
                return XmppClientOptions.Default with
                {
                    Host = server.Address, Port = server.Port, Jid = $"{user}@{server.Domain}", Password = "pw", Resource = resource,
                    Tls = TlsMode.Disabled, ReconnectMinDelay = TimeSpan.FromMilliseconds(50), ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
                };
            }

            await using var store = await SqliteJobStore.OpenAsync(storePath);
            await using var manager = new JobManager(new JobManagerOptions
            {
                Xmpp = Xmpp("mgr", "manager"), ManagerId = "r", AnswerGrace = TimeSpan.FromSeconds(5),
                WorkerAllow = [$"w0@{server.Domain}", $"w1@{server.Domain}", $"w2@{server.Domain}"],
            }, store);
            await manager.StartAsync();
            var workers = new List<JobWorker>();
            try
            {
                for (int i = 0; i < 3; i++)
                {
                    // Fleet mode (no subscription): the manager must find them again by itself after the restart.
                    var w = new JobWorker(new JobWorkerOptions { Xmpp = Xmpp($"w{i}", "w"), Managers = [$"mgr@{server.Domain}"], Slots = 4, SubscribeToManagers = false });
                    workers.Add(w);
                    await w.StartAsync();
                }

                long job = await store.AddJobAsync(new JobSpec { Owner = "a@x", Command = "/bin/sh", Arguments = ["-c", "sleep 0.05; echo {task}"], Tasks = 150 });
                manager.Wake();
                var deadline = DateTime.UtcNow.AddSeconds(90);
                while ((await store.GetStatusAsync(job))!.Done < 40)
                {
                    Assert.True(DateTime.UtcNow < deadline, "timed out before the restart");
                    await Task.Delay(20);
                }

                await server.RestartAsync();
                while ((await store.GetStatusAsync(job))!.Done < 150)
                {
                    Assert.True(DateTime.UtcNow < deadline, "timed out after the restart");
                    await Task.Delay(20);
                }

                Assert.Equal(150, await store.CountResultsAsync(job));
                Assert.Equal(Enumerable.Range(0, 150), (await store.GetLogsAsync(job, null)).Select(l => int.Parse(l.Output!.Trim(), CultureInfo.InvariantCulture)));
            }
            finally
            {
                foreach (var w in workers)
                {
                    await w.DisposeAsync();
                }
            }
        }
        finally
        {
            foreach (var f in new[] { storePath, storePath + "-wal", storePath + "-shm" })
            {
                File.Delete(f);
            }
        }
    }
}
