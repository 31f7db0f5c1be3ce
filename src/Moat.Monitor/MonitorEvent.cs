namespace Moat.Monitor;

/// <summary>How far an exec record can be trusted, and if not fully, exactly why.</summary>
public enum VerificationStatus
{
    /// <summary>The hash is of the descriptor the kernel opened for this exec, and that file is still the process's executable at its path.</summary>
    Verified,

    /// <summary>The hash is of the executed content, but the file was unlinked (path no longer holds it).</summary>
    FileDeleted,

    /// <summary>The hash is of the executed content, but the path now holds a different file.</summary>
    FileReplaced,

    /// <summary>The program ran from a file the host cannot name: a memfd, or a file on a detached mount (runc's sealed copy of itself).</summary>
    AnonymousExecution,

    /// <summary>The process exited before /proc could confirm which opened file became its executable.</summary>
    ProcessGone,

    /// <summary>Kernel events were lost (queue overflow) so the exec's file descriptor was never seen.</summary>
    EventsLost,

    /// <summary>The file lies outside every watched file system; the hash was read through /proc/PID/exe instead of the exec descriptor.</summary>
    NotSeenByFanotify,

    /// <summary>
    /// Reported by the sandbox's own kernel (gVisor's sentry, through runsc trace), which the host kernel cannot see
    /// past: true unless the sentry itself was compromised, which the host cannot rule out.
    /// </summary>
    ReportedBySandboxKernel,
}

/// <summary>Something the monitor observed: an exec, or the admission that some events were lost.</summary>
public abstract record MonitorEvent(DateTimeOffset Time, string? SandboxId);

/// <summary>One program execution inside a sandbox, identified as far as the evidence allows.</summary>
public sealed record ExecRecord(
    DateTimeOffset Time,
    string SandboxId,
    string? ClientId,
    string? SandboxKind,
    int Pid,
    int ParentPid,
    string? Path,
    IReadOnlyList<string> Argv,
    string? Sha256,
    string? BuildId,
    string? PackageEcosystem,
    string? PackageName,
    string? PackageVersion,
    string? Interpreter,
    string? Script,
    bool InlineCode,
    bool? Drift,
    string? DriftReason,
    VerificationStatus Verification,
    string? VerificationDetail) : MonitorEvent(Time, SandboxId)
{
    /// <summary>
    /// True when the process was not forked by a process the monitor already knew in this sandbox: it was put into
    /// the sandbox from outside (the OCI runtime's `runc init` for a start or an exec). A tenant cannot make one.
    /// </summary>
    public bool EnteredFromHost { get; init; }

    /// <summary>Set by the host agent when the exec is the sandbox runtime's own (e.g. `runc init`), not the tenant's; the detail says on what evidence.</summary>
    public string? Runtime { get; init; }
}

/// <summary>Events were lost by a kernel source: the monitor says so instead of staying silent.</summary>
public sealed record GapRecord(DateTimeOffset Time, string? SandboxId, string Source, string Detail) : MonitorEvent(Time, SandboxId);

/// <summary>A rule matched an exec record.</summary>
public sealed record AlertRecord(DateTimeOffset Time, string SandboxId, string Rule, string Priority, string Description, int Pid, string? Path) : MonitorEvent(Time, SandboxId);

/// <summary>What the host agent knows about a sandbox: its client and kind (e.g. "job", "service", "honeypot").</summary>
public sealed record SandboxInfo(string Id, string? ClientId, string? Kind);
