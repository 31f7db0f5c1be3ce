using Moat.Host.Runtime;
using Moat.Host.Sandboxes;
using Moat.Monitor;
using Moat.Monitor.Rules;
using Moat.Monitor.Sources;
using Moat.Monitor.Store;

namespace Moat.Host.Watch;

/// <summary>
/// Execs inside gVisor sandboxes, which the host kernel's exec events cannot see: each sandbox's sentry reports them
/// through runsc's trace session (<see cref="GvisorTraceSource"/>), written to the same store as the host kernel's
/// records but marked <see cref="VerificationStatus.ReportedBySandboxKernel"/>: the host cannot check them.
/// </summary>
public sealed partial class WatchService
{
    private string TraceSocket => Path.Combine(_agent.StateDir, "runsc-trace.sock");

    private string TraceConfig => Path.Combine(_agent.StateDir, RunscRuntime.PodInitConfigFile);

    private async Task RunGvisorTraceAsync(IMonitorStore store, RuleSet rules, CancellationToken cancellationToken)
    {
        await using var source = GvisorTraceSource.Listen(TraceSocket, SandboxOfRunsc, _time);
        // Written only once the socket listens, and removed when it stops: runsc is told to report only while someone hears.
        await File.WriteAllTextAsync(TraceConfig, GvisorTraceSource.PodInitConfig(TraceSocket), cancellationToken).ConfigureAwait(false);
        try
        {
            var gaps = WriteInWindowsAsync(source.Gaps, store, (gap, batch) => batch.Add(gap), cancellationToken);
            await WriteInWindowsAsync(source.Execs, store, (exec, batch) =>
            {
                if (exec.StreamEnded)
                {
                    return; // the sandbox stopped; its records are all written
                }

                var record = ToRecord(exec);
                Interlocked.Increment(ref _execRecords);
                batch.Add(record);
                batch.AddRange(rules.Evaluate(record));
            }, cancellationToken).ConfigureAwait(false);
            await gaps.ConfigureAwait(false);
        }
        finally
        {
            File.Delete(TraceConfig);
        }
    }

    private ExecRecord ToRecord(SandboxKernelExec e)
    {
        var info = Info(e.SandboxId);
        var image = _directory.ById(e.SandboxId)?.ImageRootfs;
        bool? drift = null;
        string? driftReason = null;
        // The path comes from the sentry, which is not trusted: only a plain absolute path is looked up in the image.
        if (image is not null && e.Path is { } path && path.StartsWith('/') && !path.Split('/').Contains(".."))
        {
            // By path only: the sentry's own overlay keeps the sandbox's writes, so the host cannot read what ran.
            if (!File.Exists(Path.Join(image, path)))
            {
                (drift, driftReason) = (true, $"{path} is not in the sandbox's image");
            }
        }

        return new ExecRecord(
            e.Time, e.SandboxId, info?.ClientId, info?.Kind, e.Pid, 0, e.Path, e.Argv, e.Sha256, null,
            null, null, null, null, null, false, drift, driftReason,
            VerificationStatus.ReportedBySandboxKernel,
            "reported by the sandbox's gVisor kernel (runsc trace): the host kernel cannot see inside it, so neither the file nor the process can be checked from here");
    }

    /// <summary>
    /// The sandbox a trace stream belongs to: the connecting process is the host-side `runsc ... run ... ID` this agent
    /// started (the sentry inherits its connection), so its command line names the sandbox; anything else is refused.
    /// </summary>
    private string? SandboxOfRunsc(int pid)
    {
        if (RunscRuntime.RunIdOf(pid, _agent.Tiers.Runsc) is not { } id)
        {
            return null;
        }

        if (_directory.ById(id) is null)
        {
            _directory.RefreshIfStale(); // a sandbox being created now is in the store, not yet in the last listing
        }

        return _directory.ById(id) is { Sandbox.Tier: RuntimeTier.Gvisor } ? id : null;
    }
}
