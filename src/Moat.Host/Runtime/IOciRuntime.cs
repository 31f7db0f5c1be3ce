namespace Moat.Host.Runtime;

/// <summary>A container's state as the OCI runtime reports it.</summary>
public sealed record ContainerState(string Id, string Status, int Pid);

/// <summary>Output and exit code of a command run inside a sandbox.</summary>
public sealed record ExecResult(int ExitCode, string Stdout, string Stderr);

/// <summary>A real OCI runtime (runc, crun, runsc) driven through its command line.</summary>
public interface IOciRuntime
{
    string Name { get; }

    /// <summary>Creates and starts the container of a bundle, detached; the init's output goes to <paramref name="consoleLog"/>.</summary>
    Task RunDetachedAsync(string id, string bundle, string consoleLog, CancellationToken cancellationToken = default);

    Task<ContainerState?> StateAsync(string id, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<ContainerState>> ListAsync(CancellationToken cancellationToken = default);

    Task KillAsync(string id, string signal, CancellationToken cancellationToken = default);

    /// <summary>Removes the container (killing it first); succeeds when it does not exist.</summary>
    Task DeleteAsync(string id, CancellationToken cancellationToken = default);

    Task PauseAsync(string id, CancellationToken cancellationToken = default);

    Task ResumeAsync(string id, CancellationToken cancellationToken = default);

    Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, IReadOnlyList<string> env, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>The container's processes as the runtime reports them (its `ps` table): for gVisor, the programs
    /// inside its own kernel, which the host cannot see. The runtime's error text when it cannot say.</summary>
    Task<ProcessResult> ProcessesAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The argument list that runs an interactive command in the container attached to the caller's terminal.</summary>
    IReadOnlyList<string> InteractiveExecCommand(string id, IReadOnlyList<string> command, bool tty);
}
