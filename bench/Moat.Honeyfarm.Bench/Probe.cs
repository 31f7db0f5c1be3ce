using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Bench;

internal static class Probe
{
    /// <summary>Starts a tool with its output redirected (for a server the caller waits on).</summary>
    public static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }

    /// <summary>Runs a tool to its end and returns what it printed (standard output, then error); throws when it fails.</summary>
    public static async Task<string> RunAsync(params string[] args)
    {
        using var p = Start(args);
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited {p.ExitCode}: {await error}");
        }

        return await output + await error;
    }

    public static Socket TcpSocket(NetworkNamespace ns, IPAddress from)
    {
        var s = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        s.Bind(new IPEndPoint(from, 0));
        return s;
    }

    /// <summary>Time from the SYN leaving to the SYN-ACK arriving (connect completing).</summary>
    public static async Task<TimeSpan> ConnectAsync(Socket socket, IPAddress address, int port)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var stopwatch = Stopwatch.StartNew();
        await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
        return stopwatch.Elapsed;
    }

    public static IPAddress Dark(int n) => IPAddress.Parse($"198.18.{128 + (n / 250)}.{1 + (n % 250)}");

    public static async Task WaitAsync(Func<bool> condition, TimeSpan deadline)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > deadline)
            {
                throw new TimeoutException("The honeyfarm did not reach the state the benchmark waits for.");
            }

            await Task.Delay(5);
        }
    }

    public static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture);

    public static TimeSpan Percentile(List<TimeSpan> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    public static long MemAvailableKiB() => MeminfoKiB("/proc/meminfo", "MemAvailable:");

    public static long RssKiB() => MeminfoKiB("/proc/self/status", "VmRSS:");

    private static long MeminfoKiB(string file, string key) =>
        long.Parse(File.ReadLines(file).First(l => l.StartsWith(key, StringComparison.Ordinal))[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
}
