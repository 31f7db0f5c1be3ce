using Moat.Host.Runtime;

namespace Moat.Host.Sandboxes;

/// <summary>Whether this host can checkpoint a running sandbox (live migration), per tier, and if not, why.</summary>
/// <param name="Available">`criu check` passed (the container tier's way).</param>
/// <param name="Reason">"ok", or why not in CRIU's words (its last error line) or "criu is not installed".</param>
public sealed record CheckpointSupport(bool Available, string Reason)
{
    /// <summary>gVisor sandboxes can be checkpointed and restored by runsc itself (no CRIU).</summary>
    public bool GvisorAvailable { get; init; }

    /// <summary>What does it ("runsc checkpoint/restore"), or why the gvisor tier cannot.</summary>
    public string? GvisorReason { get; init; }
}

/// <summary>Runs `criu check` once per agent and remembers the answer: the kernel and CRIU do not change while it runs.</summary>
internal static class CheckpointProbe
{
    private static readonly Lazy<Task<CheckpointSupport>> Cached = new(() => ProbeAsync(CancellationToken.None));

    public static Task<CheckpointSupport> GetAsync(CancellationToken cancellationToken) => Cached.Value.WaitAsync(cancellationToken);

    internal static async Task<CheckpointSupport> ProbeAsync(CancellationToken cancellationToken)
    {
        ProcessResult r;
        try
        {
            r = await ProcessRunner.RunAsync("criu", ["check"], timeout: TimeSpan.FromSeconds(30), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (ToolMissingException)
        {
            return new CheckpointSupport(false, "criu is not installed (scripts/setup installs it)");
        }

        if (r.Succeeded)
        {
            return new CheckpointSupport(true, "ok");
        }

        // CRIU prints a chain of errors; the last says what it could not do, the first says why. Both are kept.
        var lines = (r.StandardError + "\n" + r.StandardOutput).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var reason = lines.Length switch
        {
            0 => $"criu check exited {r.ExitCode}",
            1 => lines[0],
            _ => $"{lines[^1]} ({lines[0]})",
        };
        return new CheckpointSupport(false, reason);
    }
}
