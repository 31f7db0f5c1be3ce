using System.Diagnostics;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Bench;

/// <summary>Runs tools for the benchmarks; failures throw with the tool's own words.</summary>
internal static class Sh
{
    public static (int Code, string Stdout, string Stderr) Run(string file, params string[] args) => RunInput(null, file, args);

    public static string MustRun(string file, params string[] args) => MustRunInput(null, file, args);

    public static string MustRunInput(string? input, string file, params string[] args)
    {
        var (code, stdout, stderr) = RunInput(input, file, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {code}: {stderr.Trim()}");
    }

    /// <summary>
    /// Runs the tool from a thread inside <paramref name="ns"/>: the child is forked there, so no `ip netns exec`
    /// or nsenter process is added to what is measured.
    /// </summary>
    public static string MustRunIn(NetworkNamespace ns, string? input, string file, params string[] args) =>
        NamespaceRunner.Run(ns, () => MustRunInput(input, file, args));

    public static (int Code, string Stdout, string Stderr) RunInput(string? input, string file, params string[] args)
    {
        using var process = Start(file, args, input is not null);
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, string[] args)
    {
        using var process = Start(file, args, redirectInput: false);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a one-client iperf3 server in NS and returns once it listens (bounded wait).</summary>
    public static async Task<Process> StartIperfServerAsync(string ns, int port)
    {
        var server = Start("ip", ["netns", "exec", ns, "iperf3", "-s", "-1", "--forceflush", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)], redirectInput: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var line = await server.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                throw new InvalidOperationException($"iperf3 server on port {port} exited: {await server.StandardError.ReadToEndAsync()}");
            }

            if (line.Contains("Server listening", StringComparison.Ordinal))
            {
                return server;
            }
        }
    }

    private static Process Start(string file, string[] args, bool redirectInput)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
    }
}
