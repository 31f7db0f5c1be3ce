using System.Diagnostics;
using System.Text;

namespace Moat.Host.Runtime;

/// <summary>What a finished child process left behind.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The most useful single line for an error message: stderr, else stdout, trimmed.</summary>
    public string Diagnostic
    {
        get
        {
            var text = string.IsNullOrWhiteSpace(StandardError) ? StandardOutput : StandardError;
            return text.Trim();
        }
    }
}

/// <summary>Runs a tool and collects its output; a tool's failure is a result, never swallowed.</summary>
internal static class ProcessRunner
{
    /// <summary>Output beyond this is cut: a misbehaving sandbox must not make the agent hold unbounded text.</summary>
    public const int MaxCapturedChars = 1 << 20;

    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string? standardInput = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolMissingException(fileName, e);
        }

        var stdout = ReadBoundedAsync(process.StandardOutput);
        var stderr = ReadBoundedAsync(process.StandardError);
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken).ConfigureAwait(false);
        }

        process.StandardInput.Close();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } t)
        {
            cts.CancelAfter(t);
        }

        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            return new ProcessResult(124, await stdout.ConfigureAwait(false),
                (await stderr.ConfigureAwait(false)) + $"\n{fileName}: timed out after {timeout}");
        }

        return new ProcessResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Runs the tool and throws <see cref="ToolFailedException"/> if it exits non-zero.</summary>
    public static async Task<ProcessResult> RunCheckedAsync(
        string fileName,
        IEnumerable<string> arguments,
        string? standardInput = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments as IReadOnlyList<string> ?? arguments.ToList();
        var r = await RunAsync(fileName, args, standardInput, timeout, cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new ToolFailedException(fileName, args, r);
        }

        return r;
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader)
    {
        var sb = new StringBuilder();
        var buffer = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
        {
            var room = MaxCapturedChars - sb.Length;
            if (room > 0)
            {
                sb.Append(buffer, 0, Math.Min(room, n));
            }
        }

        return sb.ToString();
    }
}
