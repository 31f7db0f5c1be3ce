using System.Globalization;
using System.Runtime.Versioning;
using Moat.Host.Sandboxes;
using Moat.Host.Tests.Integration;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;

namespace Moat.Host.Tests.Fabric;

/// <summary>Workers whose tasks run in Moat sandboxes claimed from a real agent's warm pool, dispatched over a real Prosody.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class WorkerInSandboxTests
{
    [Fact]
    public async Task Each_task_runs_in_its_own_sandbox_with_its_limits_and_the_sandbox_is_destroyed_after()
    {
        await using var h = await AgentHarness.StartAsync("198.19.6.0/24", new Dictionary<string, int> { ["busybox"] = 1 });
        var executor = new SandboxTaskExecutor(h.Client, SandboxTaskOptions.Default with { MemoryBytes = 48 * SandboxSpec.MiB, Client = "jobs-test" });

        // While the task runs, its sandbox exists on the host with the worker's memory limit.
        var running = executor.RunAsync(new TaskAssignment(1, 1, 0, 1, "/bin/sh", ["-c", "sleep 1.5; echo in $(hostname); touch /tmp/left-behind"], TimeSpan.FromSeconds(30)), 4096, CancellationToken.None);
        Sandbox? seen = null;
        await SandboxLifecycleTests.WaitUntilAsync(() => (seen = h.Service<SandboxService>().List().FirstOrDefault(s => s.Spec.Client == "jobs-test")) is not null);
        // The claim gives the warm sandbox the worker's limit just after handing it out; the task runs for 1.5 s.
        var limitFile = $"/sys/fs/cgroup/memory/{seen!.CgroupPath.TrimStart('/')}/memory.limit_in_bytes";
        await SandboxLifecycleTests.WaitUntilAsync(() => !running.IsCompleted && File.Exists(limitFile)
            && File.ReadAllText(limitFile).Trim() == (48 * SandboxSpec.MiB).ToString(CultureInfo.InvariantCulture), 10);
        var result = await running;
        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"in {seen.Id}", result.Output.Trim());
        Assert.DoesNotContain(h.Service<SandboxService>().List(), s => s.Id == seen.Id);

        // A task that overruns is stopped (124) and its sandbox, with whatever the task left running, is destroyed.
        var slow = await executor.RunAsync(new TaskAssignment(2, 1, 1, 1, "/bin/sleep", ["60"], TimeSpan.FromSeconds(1)), 4096, CancellationToken.None);
        Assert.Equal(124, slow.ExitCode);
        Assert.True(slow.TimedOut);
        Assert.DoesNotContain(h.Service<SandboxService>().List(), s => s.Spec.Client == "jobs-test");

        // A sandbox the host cannot give is a task failure with the host's sentence, not a crash of the worker.
        var bad = await new SandboxTaskExecutor(h.Client, SandboxTaskOptions.Default with { Image = "no-such-image" })
            .RunAsync(new TaskAssignment(3, 1, 2, 1, "/bin/true", [], TimeSpan.FromSeconds(10)), 4096, CancellationToken.None);
        Assert.Equal(SandboxTaskExecutor.SandboxFailure, bad.ExitCode);
        Assert.StartsWith("sandbox: ", bad.Output, StringComparison.Ordinal);
        Assert.Contains("no-such-image", bad.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_for_sandbox_workers_runs_every_task_once_each_in_a_fresh_sandbox()
    {
        await using var f = await FabricHarness.StartAsync(new Dictionary<string, int> { ["busybox"] = 2 }, "198.19.7.0/24");
        var storePath = Path.Combine(Path.GetTempPath(), $"moat-jobs-{Guid.NewGuid():N}.db");
        try
        {
            await using var store = await SqliteJobStore.OpenAsync(storePath);
            var managerJid = "jobs@" + f.Server.Domain;
            await using var manager = new JobManager(new JobManagerOptions
            {
                Xmpp = f.Xmpp(managerJid, "manager"),
                ManagerId = "m-sandbox",
                Authorization = new JobAuthorization(new HashSet<string> { "alice@x" }, new HashSet<string>()),
                AnswerGrace = TimeSpan.FromSeconds(5),
                WorkerAllow = ["worker@" + f.Server.Domain, "mallory@" + f.Server.Domain],
            }, store);
            await manager.StartAsync();

            var sandboxOptions = SandboxTaskOptions.Default with { MemoryBytes = 64 * SandboxSpec.MiB };
            await using var inSandbox = new JobWorker(new JobWorkerOptions
            {
                Xmpp = f.Xmpp("worker@" + f.Server.Domain, "sandboxed"),
                Managers = [managerJid],
                Slots = 2,
                Labels = sandboxOptions.Labels,
                MemoryMb = 64,
                Executor = new SandboxTaskExecutor(f.Host.Client, sandboxOptions),
            });
            // A plain worker (tasks as processes on this machine) that must not get the job: it lacks the 'sandbox' label.
            await using var plain = new JobWorker(new JobWorkerOptions { Xmpp = f.Xmpp("mallory@" + f.Server.Domain, "plain"), Managers = [managerJid], Slots = 2 });
            await inSandbox.StartAsync();
            await plain.StartAsync();
            await FabricHarness.WaitForAsync(() => manager.Workers.Count == 2, "the manager sees both workers");
            Assert.Contains(manager.Workers, w => w.Labels.Contains("sandbox") && w.Labels.Contains("image=busybox") && w.Labels.Contains("tier=container"));

            const int tasks = 12;
            long job = await store.AddJobAsync(new JobSpec
            {
                Owner = "alice@x",
                Command = "/bin/sh",
                Arguments = ["-c", "echo {task} $(hostname); ls /tmp"],
                Tasks = tasks,
                Labels = ["sandbox"],
            });
            manager.Wake();
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while ((await store.GetStatusAsync(job))!.Done < tasks)
            {
                Assert.True(DateTime.UtcNow < deadline, "the job did not finish within 120 s");
                await Task.Delay(100);
            }

            Assert.Equal(tasks, await store.CountResultsAsync(job));
            var logs = await store.GetLogsAsync(job, null);
            Assert.Equal(Enumerable.Range(0, tasks), logs.Select(l => l.Index));
            Assert.All(logs, l => Assert.StartsWith("worker@", l.Worker, StringComparison.Ordinal));
            var hostnames = logs.Select(l => l.Output!.Trim().Split(' ', '\n')).ToList();
            Assert.All(logs.Zip(hostnames), p => Assert.Equal(p.First.Index.ToString(CultureInfo.InvariantCulture), p.Second[0]));
            // Every task saw a fresh sandbox: its own hostname (the sandbox id) and an empty /tmp.
            Assert.Equal(tasks, hostnames.Select(x => x[1]).Distinct().Count());
            Assert.DoesNotContain(Environment.MachineName, hostnames.Select(x => x[1]));
            Assert.All(hostnames, x => Assert.Equal(2, x.Length));
            await SandboxLifecycleTests.WaitUntilAsync(() => !f.Host.Service<SandboxService>().List().Any(s => s.PoolImage is null));
        }
        finally
        {
            foreach (var file in Directory.EnumerateFiles(Path.GetTempPath(), Path.GetFileName(storePath) + "*"))
            {
                File.Delete(file);
            }
        }
    }
}
