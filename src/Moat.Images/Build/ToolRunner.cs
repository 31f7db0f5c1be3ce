using System.Diagnostics;

namespace Moat.Images.Build;

/// <summary>Runs a build tool, hands each output line to a callback and kills the whole tree on cancellation.</summary>
internal static class ToolRunner
{
    internal static async Task<(int ExitCode, IReadOnlyList<string> Tail)> RunAsync(
        string fileName, IEnumerable<string> arguments, Action<string>? onLine, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var tail = new Queue<string>();
        using var process = new Process { StartInfo = start };
        void OnData(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (tail)
            {
                tail.Enqueue(e.Data);
                if (tail.Count > 20)
                {
                    tail.Dequeue();
                }
            }

            onLine?.Invoke(e.Data);
        }

        process.OutputDataReceived += OnData;
        process.ErrorDataReceived += OnData;
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new ImageBuildException($"Cannot run {fileName}: {ex.Message}; install it (Debian package names are in docs/images.md).");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        lock (tail)
        {
            return (process.ExitCode, tail.ToList());
        }
    }
}
