using Moat.Monitor.Identify;

namespace Moat.Monitor;

/// <summary>How the monitor maps processes to sandboxes and sandboxes to clients.</summary>
public sealed record ExecMonitorOptions
{
    public static ExecMonitorOptions Default { get; } = new();

    /// <summary>pid → sandbox id, or null for host processes. Default: the <c>/moat/&lt;id&gt;</c> cgroup path.</summary>
    public Func<int, string?> SandboxOfPid { get; init; } = CgroupSandboxResolver.Resolve;

    /// <summary>sandbox id → client and kind; null when unknown.</summary>
    public Func<string, SandboxInfo?> SandboxInfo { get; init; } = _ => null;

    /// <summary>
    /// Pause after each batch so that one wake-up of the monitor serves many kernel events: every wake-up is a
    /// cross-CPU interrupt charged to the process that caused the event, which on a paravirtualised host costs
    /// the sandbox more than the monitor's own work. Zero reads every event as soon as it arrives.
    /// </summary>
    public TimeSpan BatchInterval { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Bytes of kernel buffer for the proc connector socket.</summary>
    public int ProcConnectorBufferBytes { get; init; } = 32 * 1024 * 1024;
}
