using System.Diagnostics;
using System.Runtime.Versioning;

namespace Moat.Monitor.Tests.Integration;

[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class MemfdExecutionTests
{
    [Fact]
    public async Task ProgramRunFromMemfd_IsReportedAsAnonymousExecution_WithTheHashOfWhatRan()
    {
        // A bare cgroup /moat/mtm-<guid> is enough for the default resolver to call the process a sandbox's.
        string id = "mtm-" + Guid.NewGuid().ToString("N")[..12];
        string cgroup = $"/sys/fs/cgroup/pids/moat/{id}";
        Directory.CreateDirectory(cgroup);
        Process? process = null;
        try
        {
            await using var monitor = ExecMonitor.Start();
            // perl (essential in Debian) copies busybox into a memfd and execs it from there as "sleep 300".
            const string perl = """
                my $name = "mtm"; my $fd = syscall(319, $name, 0); die "memfd_create: $!" if $fd < 0;
                open(my $src, "<:raw", "/bin/busybox") or die; open(my $dst, ">&=:raw", $fd) or die;
                local $/; my $data = <$src>; print {$dst} $data; close $src; $dst->flush;
                exec { "/proc/self/fd/$fd" } "sleep", "300" or die "exec: $!";
                """;
            var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add($"echo $$ > {cgroup}/cgroup.procs && exec perl -e '{perl}'");
            process = Process.Start(psi)!;

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            ExecRecord? anonymous = null;
            await foreach (var e in monitor.Events.ReadAllAsync(cts.Token))
            {
                if (e is ExecRecord r && r.SandboxId == id && r.Verification == VerificationStatus.AnonymousExecution)
                {
                    anonymous = r;
                    break;
                }
            }

            Assert.NotNull(anonymous);
            Assert.StartsWith("/memfd:mtm", anonymous.Path, StringComparison.Ordinal);
            Assert.Equal(BusyboxSandbox.BusyboxSha256, anonymous.Sha256);
            Assert.Equal(["sleep", "300"], anonymous.Argv);
            Assert.Contains("anonymous-execution", Moat.Monitor.Rules.RuleSet.Default().Evaluate(anonymous).Select(a => a.Rule));
        }
        finally
        {
            if (process is not null)
            {
                process.Kill();
                await process.WaitForExitAsync();
                process.Dispose();
            }

            Directory.Delete(cgroup);
        }
    }
}
