using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Moat.Honeyfarm.Lab;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Bench;

/// <summary>Live clones on this host and the host memory each idle one costs (MemAvailable and the gateway's RSS).</summary>
internal static class LiveClones
{
    public static async Task RunAsync(int count)
    {
        await using var lab = await FarmLab.StartAsync(o => o with { MaxClones = count, WarmClones = 8, ScanFilterInterval = TimeSpan.Zero, IdleTimeout = TimeSpan.FromHours(1) });
        await Probe.WaitAsync(() => lab.Gateway.Counters.WarmClones >= 8, TimeSpan.FromSeconds(30));
        GC.Collect();
        var availableBefore = Probe.MemAvailableKiB();
        var rssBefore = Probe.RssKiB();
        using var socket = NamespaceRunner.Run(lab.Internet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(FarmLab.Source(0), 0));
        var buffer = new byte[512];
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            // One datagram per address, resent until the clone answers.
            while (true)
            {
                await socket.SendToAsync("x"u8.ToArray(), SocketFlags.None, new IPEndPoint(Probe.Dark(i), 53));
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                try
                {
                    await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), wait.Token);
                    break;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        var elapsed = stopwatch.Elapsed;
        GC.Collect();
        var counters = lab.Gateway.Counters;
        var host = (availableBefore - Probe.MemAvailableKiB()) / (double)counters.LiveClones;
        var rss = (Probe.RssKiB() - rssBefore) / (double)counters.LiveClones;
        Console.WriteLine();
        Console.WriteLine($"## live clones: {count} addresses bound one after another (UDP probe, answered), then held idle");
        Console.WriteLine("| live clones | time s | host memory per clone KiB (MemAvailable) | gateway RSS per clone KiB | threads |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine($"| {counters.LiveClones} | {elapsed.TotalSeconds:0.0} | {host:0} | {rss:0} | {Process.GetCurrentProcess().Threads.Count} |");
    }
}
