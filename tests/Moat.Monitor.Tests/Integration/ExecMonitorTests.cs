using Moat.Monitor.Rules;
using Moat.Monitor.Store;
using System.Runtime.Versioning;

namespace Moat.Monitor.Tests.Integration;

[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class ExecMonitorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EveryExecInASandboxIsRecordedAndIdentified_WhenIdentificationRunsAfterTheFacts()
    {
        await using var sandbox = await BusyboxSandbox.CreateAsync();
        var monitor = ExecMonitor.Open(ExecMonitorOptions.Default with
        {
            SandboxInfo = id => new SandboxInfo(id, "client-a", "job"),
        });
        await using (monitor)
        {
            monitor.WatchSandbox(sandbox.Id, sandbox.RootFs, sandbox.ImageDir);
            // waitexec blocks (with shell builtins only, so it adds no execs) until a background child has exec'd,
            // so that "delete right after exec" really deletes after the exec.
            const string script = """
                waitexec() { while :; do read -r c < /proc/$1/cmdline; case "$c" in "$2"*) return;; esac; done; }
                /bin/true
                /bin/true
                /bin/echo short > /dev/null
                mkdir -p /tmp/d
                cp /bin/busybox /usr/local/bin/sleep
                /usr/local/bin/sleep 300 &
                waitexec $! /usr/local/bin/sleep
                cp /bin/busybox /tmp/d/sleep
                /tmp/d/sleep 301 &
                waitexec $! /tmp/d/sleep
                rm /tmp/d/sleep
                mkdir -p /tmp/r
                cp /bin/busybox /tmp/r/sleep
                /tmp/r/sleep 306 &
                waitexec $! /tmp/r/sleep
                rm /tmp/r/sleep
                cp /bin/busybox /tmp/r/sleep
                printf 'touch /tmp/job-started\n/bin/sleep 302\necho done\n' > /tmp/job.sh
                /bin/sh /tmp/job.sh &
                while [ ! -e /tmp/job-started ]; do :; done
                /bin/sleep 303 &
                waitexec $! /bin/sleep
                touch /tmp/ready
                exec /bin/sleep 304
                """;
            await sandbox.StartAsync(script);
            await sandbox.WaitForFileAsync("/tmp/ready", Timeout);

            // The loop starts only now: the short-lived programs are gone and /tmp/d/sleep is deleted,
            // so each record shows what the monitor can and cannot still prove.
            monitor.StartLoop();
            var records = await CollectAsync(monitor, sandbox.Id, r => r.Argv.SequenceEqual(["/bin/sleep", "304"]));

            Assert.All(records, r => Assert.Equal("client-a", r.ClientId));
            Assert.All(records, r => Assert.Equal(BusyboxSandbox.BusyboxSha256, r.Sha256));

            var image = Assert.Single(records, r => r.Argv.SequenceEqual(["/bin/sleep", "303"]));
            Assert.Equal(VerificationStatus.Verified, image.Verification);
            Assert.Equal("/bin/busybox", image.Path);
            Assert.False(image.Drift);
            Assert.Equal(("Debian", "busybox-static", "1:1.35.0-4+deb12u1+b1"), (image.PackageEcosystem, image.PackageName, image.PackageVersion));

            var dropped = Assert.Single(records, r => r.Argv.SequenceEqual(["/usr/local/bin/sleep", "300"]));
            Assert.Equal(VerificationStatus.Verified, dropped.Verification);
            Assert.Equal("/usr/local/bin/sleep", dropped.Path);
            Assert.True(dropped.Drift);
            Assert.Null(dropped.PackageName);

            var deleted = Assert.Single(records, r => r.Argv.SequenceEqual(["/tmp/d/sleep", "301"]));
            Assert.Equal(VerificationStatus.FileDeleted, deleted.Verification);
            Assert.Equal("/tmp/d/sleep", deleted.Path);
            Assert.True(deleted.Drift);

            var replaced = Assert.Single(records, r => r.Argv.SequenceEqual(["/tmp/r/sleep", "306"]));
            Assert.Equal(VerificationStatus.FileReplaced, replaced.Verification);
            Assert.Equal("/tmp/r/sleep", replaced.Path);

            var job = Assert.Single(records, r => r.Script == "/tmp/job.sh");
            Assert.Equal("sh", job.Interpreter);
            Assert.Equal(VerificationStatus.Verified, job.Verification);

            // /bin/true twice and /bin/echo exited long before identification (busybox sh runs mkdir, cp, rm
            // and touch in-process, so they are not execs at all).
            var init = records.Last();
            var gone = records.Where(r => r.Verification == VerificationStatus.ProcessGone && r.Pid != init.Pid).ToList();
            Assert.True(gone.Count == 3, $"expected 3 exited processes, saw {gone.Count}: {string.Join("; ", records.Select(Describe))}");

            // The init shell's own first exec is described either from /proc (when the loop read it before the
            // shell's final 'exec sleep') or, if it had already exec'd again, as superseded: never with sleep's argv.
            var initShell = records.First(r => r.Pid == init.Pid);
            Assert.True(
                initShell.Argv.Count > 1 && initShell.Argv[0] == "/bin/sh" && initShell.Argv[1] == "-c"
                || initShell.Verification == VerificationStatus.ProcessGone && initShell.VerificationDetail!.Contains("exec'd again", StringComparison.Ordinal),
                Describe(initShell));
            Assert.All(gone, r => Assert.Equal("/bin/busybox", r.Path));
            Assert.All(gone, r => Assert.NotNull(r.VerificationDetail));
        }
    }

    [Fact]
    public async Task ExecsOfASandboxWhoseProcessesAllExitedBeforeTheMonitorRead_AreAttributedByTheFileSystemTheyRanFrom()
    {
        // A busy host can delay the monitor's loop until a runc-started shell and its children are gone, cgroup and
        // all. The files they executed still live on the sandbox's own overlay, which names the sandbox.
        await using var sandbox = await BusyboxSandbox.CreateAsync();
        var monitor = ExecMonitor.Open(ExecMonitorOptions.Default with { SandboxInfo = id => new SandboxInfo(id, "client-c", "job") });
        await using (monitor)
        {
            monitor.WatchSandbox(sandbox.Id, sandbox.RootFs, sandbox.ImageDir);
            // Shell builtins only until /tmp/go appears, so that its pid can be read before anything is exec'd.
            await sandbox.StartAsync("while [ ! -e /tmp/go ]; do :; done; /bin/true; cp /bin/busybox /tmp/gone; /tmp/gone true; /bin/echo last > /dev/null");
            int init = await sandbox.InitPidAsync();
            await File.WriteAllTextAsync(sandbox.RootFs + "/tmp/go", "");
            await BusyboxSandbox.WaitUntilReapedAsync(init, Timeout);

            monitor.StartLoop();
            var records = await CollectAsync(monitor, sandbox.Id, r => r.Path == "/tmp/gone");

            var dropped = records[^1];
            Assert.Equal(BusyboxSandbox.BusyboxSha256, dropped.Sha256);
            Assert.Equal("client-c", dropped.ClientId);
            Assert.True(dropped.Drift);
            Assert.Equal(VerificationStatus.ProcessGone, dropped.Verification);
            // The shell runc started (entered from the host) and its first child, /bin/true, before it.
            Assert.Contains(records, r => r.EnteredFromHost && r.Path == "/bin/busybox"
                && r.VerificationDetail!.Contains("file system holds the executed file", StringComparison.Ordinal));
            Assert.True(records.Count(r => r.Path == "/bin/busybox" && r.Drift == false) >= 2, string.Join("; ", records.Select(Describe)));
        }
    }

    [Fact]
    public async Task LostProcConnectorEvents_AreReportedAsAGap_NotSilence()
    {
        await using var sandbox = await BusyboxSandbox.CreateAsync();
        // The smallest socket buffer the kernel allows holds a handful of events; 300 execs overflow it.
        var monitor = ExecMonitor.Open(ExecMonitorOptions.Default with { ProcConnectorBufferBytes = 1 });
        await using (monitor)
        {
            monitor.WatchSandbox(sandbox.Id, sandbox.RootFs, sandbox.ImageDir);
            await sandbox.StartAsync("i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; touch /tmp/ready; exec /bin/sleep 300");
            await sandbox.WaitForFileAsync("/tmp/ready", Timeout);
            monitor.StartLoop();

            using var cts = new CancellationTokenSource(Timeout);
            GapRecord? gap = null;
            await foreach (var e in monitor.Events.ReadAllAsync(cts.Token))
            {
                if (e is GapRecord g)
                {
                    gap = g;
                    break;
                }
            }

            Assert.NotNull(gap);
            Assert.Equal("proc-connector", gap.Source);
            Assert.Contains("lost", gap.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task LiveMonitoring_WithDefaultRules_StoresRecordsAndAlerts()
    {
        await using var sandbox = await BusyboxSandbox.CreateAsync();
        string db = Path.Combine(Path.GetTempPath(), sandbox.Id + ".db");
        try
        {
            await using var monitor = ExecMonitor.Start(ExecMonitorOptions.Default with
            {
                SandboxInfo = id => new SandboxInfo(id, "client-b", "job"),
            });
            monitor.WatchSandbox(sandbox.Id, sandbox.RootFs, sandbox.ImageDir);
            await using var store = await SqliteMonitorStore.OpenAsync(db);
            using var stop = new CancellationTokenSource();
            var recorder = MonitorRecorder.RunAsync(monitor.Events, store, RuleSet.Default(), stop.Token);
            await sandbox.StartAsync("""
                cp /bin/busybox /tmp/xmrig
                /tmp/xmrig --url stratum+tcp://198.19.251.1:3333
                printf 'sleep 300\n' > /tmp/stage2.sh
                /bin/sh /tmp/stage2.sh &
                touch /tmp/ready
                exec /bin/sleep 305
                """);
            await sandbox.WaitForFileAsync("/tmp/ready", Timeout);

            // Wait (bounded) until the init's last exec is stored: everything before it is stored too.
            using var cts = new CancellationTokenSource(Timeout);
            IReadOnlyList<MonitorEvent> events = [];
            while (!events.OfType<ExecRecord>().Any(r => r.Argv.SequenceEqual(["/bin/sleep", "305"])))
            {
                Assert.False(recorder.IsCompleted, "the recorder stopped early");
                await Task.Delay(50, cts.Token);
                events = await store.EventsAsync(new MonitorQuery(sandbox.Id));
            }

            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recorder);

            var alerts = events.OfType<AlertRecord>().ToList();
            Assert.Contains(alerts, a => a.Rule == "known-miner" && a.Path == "/tmp/xmrig");
            Assert.Contains(alerts, a => a.Rule == "binary-not-in-image" && a.Path == "/tmp/xmrig");
            Assert.Contains(alerts, a => a.Rule == "script-from-tmp");
            Assert.Contains(alerts, a => a.Rule == "shell-in-job-sandbox");
            var miner = Assert.Single(events.OfType<ExecRecord>(), r => r.Path == "/tmp/xmrig");
            Assert.Equal(BusyboxSandbox.BusyboxSha256, miner.Sha256);
            Assert.Equal("client-b", miner.ClientId);
        }
        finally
        {
            foreach (string f in new[] { db, db + "-wal", db + "-shm" })
            {
                File.Delete(f);
            }
        }
    }

    private static async Task<List<ExecRecord>> CollectAsync(ExecMonitor monitor, string sandboxId, Func<ExecRecord, bool> last)
    {
        var records = new List<ExecRecord>();
        using var cts = new CancellationTokenSource(Timeout);
        await foreach (var e in monitor.Events.ReadAllAsync(cts.Token))
        {
            if (e is ExecRecord r && r.SandboxId == sandboxId)
            {
                records.Add(r);
                if (last(r))
                {
                    break;
                }
            }
            else if (e is GapRecord gap)
            {
                Assert.Fail($"unexpected gap: {gap.Detail}");
            }
        }

        return records;
    }

    internal static string Describe(ExecRecord r) =>
        $"{r.Pid} {r.Path} [{string.Join(' ', r.Argv)}] {r.Verification} drift={r.Drift} sha={r.Sha256?[..8]} {r.Interpreter}:{r.Script}";
}
