using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Moat.Honeyfarm.Lab;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// Gateway rate for new-address packets: a horizontal UDP scan of the range from one source and port, which the
/// scan filter reduces to one clone; every packet crosses the gateway twice (ingress TUN, universe TUN).
/// </summary>
internal static class PacketRate
{
    public static async Task RunAsync(int count)
    {
        await using var lab = await FarmLab.StartAsync(o => o with { MaxClones = 16, WarmClones = 2, ScanFilterInterval = TimeSpan.FromMinutes(10) });
        using var socket = NamespaceRunner.Run(lab.Internet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(FarmLab.Source(1), 0));
        var payload = new byte[18];
        var targets = Enumerable.Range(0, 32000).Select(n => new IPEndPoint(IPAddress.Parse($"198.18.{128 + (n >> 8)}.{n & 0xff}"), 53)).ToArray();
        var before = lab.Gateway.Counters;
        var stopwatch = Stopwatch.StartNew();
        var sent = 0;
        for (var i = 0; i < count; i++)
        {
            var n = i % 32000;
            try
            {
                socket.SendTo(payload, targets[n]);
                sent++;
            }
            catch (SocketException)
            {
                // ENOBUFS: the sender outran its own queue.
            }
        }

        var sendTime = stopwatch.Elapsed;
        long last = -1;
        while (lab.Gateway.Counters.PacketsIn != last)
        {
            last = lab.Gateway.Counters.PacketsIn;
            await Task.Delay(200);
        }

        var handledTime = stopwatch.Elapsed - TimeSpan.FromMilliseconds(200);
        var c = lab.Gateway.Counters;
        var inGateway = c.PacketsIn - before.PacketsIn;
        Console.WriteLine();
        Console.WriteLine($"## new-address packets: {count} UDP datagrams to {Math.Min(count, 32000)} addresses, one source, one port (scan filter on)");
        Console.WriteLine("| sent | send s | gateway packet reads | reads/s | clones made | scan-filtered |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Console.WriteLine($"| {sent} | {sendTime.TotalSeconds:0.00} | {inGateway} | {inGateway / handledTime.TotalSeconds:0} | {c.ClonesBound} | {c.ScanFiltered} |");
    }
}
