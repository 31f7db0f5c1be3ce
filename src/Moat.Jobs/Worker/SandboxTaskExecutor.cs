using System.Text;
using Moat.Host.Client;
using Moat.Host.Sandboxes;
using Moat.Jobs.Store;

namespace Moat.Jobs.Worker;

/// <summary>Runs a worker's tasks somewhere other than as a plain process on its machine.</summary>
public interface ITaskExecutor
{
    Task<TaskResult> RunAsync(TaskAssignment task, int maxOutputBytes, CancellationToken cancellationToken);
}

/// <summary>What each task's sandbox gets.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed record SandboxTaskOptions
{
    public static SandboxTaskOptions Default { get; } = new();

    public string Image { get; init; } = "busybox";

    public long MemoryBytes { get; init; } = 128 * SandboxSpec.MiB;

    public double Cpus { get; init; } = 1.0;

    /// <summary>Runtime tier; null lets the host pick it from the client's trust level.</summary>
    public RuntimeTier? Tier { get; init; }

    /// <summary>Client name the sandboxes are handed to (the host's trust policy applies to it).</summary>
    public string Client { get; init; } = "jobs";

    /// <summary>Labels a worker using these sandboxes advertises: sandbox, image=…, tier=….</summary>
    public IReadOnlyList<string> Labels =>
        ["sandbox", "image=" + Image, "tier=" + (Tier?.Name() ?? RuntimeTier.Container.Name())];
}

/// <summary>
/// Runs each task inside its own Moat sandbox, claimed from the local host agent's warm pool (so it starts in
/// milliseconds), with that sandbox's memory, CPU and PID limits, and destroyed afterwards so that nothing a task
/// leaves behind (files, processes) reaches the next one; the pool refills in the background.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SandboxTaskExecutor(HostClient host, SandboxTaskOptions options) : ITaskExecutor
{
    /// <summary>Exit code of a task whose sandbox could not be had or used (125, as container runtimes use for their own failures).</summary>
    public const int SandboxFailure = 125;

    public async Task<TaskResult> RunAsync(TaskAssignment task, int maxOutputBytes, CancellationToken cancellationToken)
    {
        if (task.Command == TaskRunner.NoOp)
        {
            return new TaskResult(task.TaskId, task.Attempt, 0, string.Join(' ', task.Arguments));
        }

        var spec = new SandboxSpec
        {
            Image = options.Image,
            MemoryBytes = options.MemoryBytes,
            Cpus = options.Cpus,
            Tier = options.Tier,
            Client = options.Client,
            Volume = false,
        };
        string? id = null;
        try
        {
            var claim = await host.ClaimAsync(spec, cancellationToken).ConfigureAwait(false);
            id = claim.Sandbox.Id;
            var r = await host.ExecAsync(id, [task.Command, .. task.Arguments], null, Math.Max(0.001, task.Timeout.TotalSeconds), cancellationToken).ConfigureAwait(false);
            bool timedOut = r.ExitCode == 124 && r.Stderr.Contains("timed out after", StringComparison.Ordinal);
            return new TaskResult(task.TaskId, task.Attempt, r.ExitCode, Bound(r.Stdout + r.Stderr, maxOutputBytes), timedOut);
        }
        catch (Exception e) when (e is HostApiException or HostUnavailableException or HttpRequestException)
        {
            return new TaskResult(task.TaskId, task.Attempt, SandboxFailure, $"sandbox: {e.Message}");
        }
        finally
        {
            if (id is not null)
            {
                await DestroyQuietlyAsync(id).ConfigureAwait(false);
            }
        }
    }

    private async Task DestroyQuietlyAsync(string id)
    {
        try
        {
            await host.DestroyAsync(id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HostApiException or HostUnavailableException or HttpRequestException)
        {
            // The agent reconciles what it holds on restart; the task's result stands either way.
        }
    }

    private static string Bound(string text, int limit)
    {
        if (Encoding.UTF8.GetByteCount(text) <= limit)
        {
            return text;
        }

        return text[..Math.Min(text.Length, limit)] + "\n[output truncated]";
    }
}
