using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Moat.Honeyfarm.Lab;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// Established flows after binding: the kernel forwards them through the gateway's namespace (universe table, veth
/// to the clone) without the gateway process. iperf3 UDP with 64-byte payloads, no rate limit, from the lab's
/// internet to a bound clone; the peer is the same iperf3 to the gateway namespace's own address (one hop less:
/// no forwarding, no policy routing, no containment table).
/// </summary>
internal static class ForwardRate
{
    public static async Task RunAsync(int seconds)
    {
        await using var lab = await FarmLab.StartAsync(o => o with { ScanFilterInterval = TimeSpan.Zero, IdleTimeout = TimeSpan.FromHours(1) });
        var target = Probe.Dark(0);
        using (var socket = NamespaceRunner.Run(lab.Internet, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            await socket.ConnectAsync(new IPEndPoint(target, 22)); // binds the clone
        }

        var clone = lab.Gateway.Universes().Single().Clones.Single().Name;
        var farm = await IperfAsync(clone, lab.Internet.Name, target, seconds);
        var direct = await IperfAsync(lab.GatewayNamespace.Name, lab.Internet.Name, FarmLab.GatewayAddress, seconds);
        Console.WriteLine();
        Console.WriteLine($"## established flow, kernel forwarding (iperf3 UDP, 64-byte payloads, unlimited, {seconds} s; sender and kernel share 2 cores)");
        Console.WriteLine("| path | packets/s received | lost % |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| internet → gateway ns (forward, universe table, containment) → bound clone | {farm.Rate:0} | {farm.Lost:0.0} |");
        Console.WriteLine($"| peer: internet → the gateway namespace's own address (no forwarding) | {direct.Rate:0} | {direct.Lost:0.0} |");
        Console.WriteLine($"| farm / peer | {farm.Rate / direct.Rate:0.00} | |");
    }

    private static async Task<(double Rate, double Lost)> IperfAsync(string serverNs, string clientNs, IPAddress server, int seconds)
    {
        using var s = Probe.Start("ip", "netns", "exec", serverNs, "iperf3", "-s", "-1", "-p", "5299");
        // iperf3 is ready when its control port listens in the server's namespace.
        var deadline = Stopwatch.StartNew();
        while (!(await Probe.RunAsync("ip", "netns", "exec", serverNs, "ss", "-ltnH", "sport = :5299")).Contains("5299", StringComparison.Ordinal))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new InvalidOperationException("iperf3 server did not listen");
            }

            await Task.Delay(20);
        }

        var json = await Probe.RunAsync("ip", "netns", "exec", clientNs, "iperf3", "-c", server.ToString(), "-p", "5299", "-u", "-b", "0", "-l", "64",
            "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J");
        await s.WaitForExitAsync();
        using var doc = JsonDocument.Parse(json);
        var sum = doc.RootElement.GetProperty("end").GetProperty("sum");
        var packets = sum.GetProperty("packets").GetDouble();
        var lost = sum.GetProperty("lost_packets").GetDouble();
        var secs = sum.GetProperty("seconds").GetDouble();
        return ((packets - lost) / secs, 100 * lost / Math.Max(1, packets));
    }
}
