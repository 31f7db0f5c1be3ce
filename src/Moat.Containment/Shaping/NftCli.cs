using System.Diagnostics;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Shaping;

/// <summary>
/// Runs `nft -j` (inside a given network namespace through nsenter) to read a table back with its map elements;
/// only at start and reconciliation, never on the per-sandbox path, which speaks nf_tables netlink.
/// </summary>
internal sealed class NftCli(NetworkNamespace? ns)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The table as `nft -j` JSON, or null when it does not exist.</summary>
    public async Task<string?> ListTableAsync(string table, CancellationToken cancellationToken)
    {
        var (code, stdout, stderr) = await RunAsync(["-j", "list", "table", "inet", table], null, cancellationToken).ConfigureAwait(false);
        if (code == 0)
        {
            return stdout;
        }

        return stderr.Contains("No such file or directory", StringComparison.Ordinal)
            ? null
            : throw new ShapingException($"nft could not list table inet {table} (exit {code}): {stderr.Trim()}");
    }

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args, string? input, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ns is null ? "nft" : "nsenter")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (ns is not null)
        {
            start.ArgumentList.Add($"--net={ns.Path}");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add("nft");
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new ShapingException("Could not start nft.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input.AsMemory(), timeout.Token).ConfigureAwait(false);
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }
}
