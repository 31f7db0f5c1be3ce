using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Bench;

internal static class Probe
{
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
