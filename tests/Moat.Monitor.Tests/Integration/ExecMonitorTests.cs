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
            const string script = """
                /bin/true
                /bin/true
                /bin/echo short > /dev/null
                mkdir -p /tmp/d
                cp /bin/busybox /usr/local/bin/sleep
                /usr/local/bin/sleep 300 &
                cp /bin/busybox /tmp/d/sleep
                /tmp/d/sleep 301 &
                rm /tmp/d/sleep
                printf 'sleep 302\n' > /tmp/job.sh
                /bin/sh /tmp/job.sh &
                /bin/sleep 303 &
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

            var job = Assert.Single(records, r => r.Script == "/tmp/job.sh");
            Assert.Equal("sh", job.Interpreter);
            Assert.Equal(VerificationStatus.Verified, job.Verification);

            // /bin/true twice and /bin/echo exited long before identification (busybox sh runs mkdir, cp, rm
            // and touch in-process, so they are not execs at all). The init shell exec'd again (exec sleep 304).
            var gone = records.Where(r => r.Verification == VerificationStatus.ProcessGone).ToList();
            Assert.True(gone.Count == 4, $"expected 4 exited or re-exec'd processes, saw {gone.Count}: {string.Join("; ", records.Select(Describe))}");
            Assert.All(gone, r => Assert.Equal("/bin/busybox", r.Path));
            Assert.All(gone, r => Assert.NotNull(r.VerificationDetail));
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
