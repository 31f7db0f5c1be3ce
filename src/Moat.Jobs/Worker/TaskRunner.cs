using System.Diagnostics;
using System.Text;
using Moat.Jobs.Store;

namespace Moat.Jobs.Worker;

/// <summary>Runs one task as a process with a timeout, keeping a bounded amount of its output.</summary>
internal static class TaskRunner
{
    /// <summary>Benchmark-only command that returns at once without a process, to measure the fabric alone.</summary>
    public const string NoOp = "moat:noop";

    public static async Task<TaskResult> RunAsync(TaskAssignment task, int maxOutputBytes, CancellationToken cancellationToken)
    {
        if (task.Command == NoOp)
        {
            return new TaskResult(task.TaskId, task.Attempt, 0, string.Join(' ', task.Arguments));
        }

        var start = new ProcessStartInfo(task.Command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in task.Arguments)
        {
            start.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new TaskResult(task.TaskId, task.Attempt, 127, $"cannot start '{task.Command}': {e.Message}");
        }

        using (process)
        {
            process.StandardInput.Close();
            var output = new BoundedBuffer(maxOutputBytes);
            var stdout = output.DrainAsync(process.StandardOutput);
            var stderr = output.DrainAsync(process.StandardError);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(task.Timeout);
            bool timedOut = false;
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            return new TaskResult(task.TaskId, task.Attempt, timedOut ? 124 : process.ExitCode, output.ToString(), timedOut);
        }
    }

    private sealed class BoundedBuffer(int limit)
    {
        private readonly StringBuilder text = new();
        private bool truncated;

        public async Task DrainAsync(StreamReader reader)
        {
            var buffer = new char[4096];
            int n;
            while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (text)
                {
                    int room = limit - text.Length;
                    if (room > 0)
                    {
                        text.Append(buffer, 0, Math.Min(room, n));
                    }

                    truncated |= n > room;
                }
            }
        }

        public override string ToString()
        {
            lock (text)
            {
                return truncated ? text + "\n[output truncated]" : text.ToString();
            }
        }
    }
}
