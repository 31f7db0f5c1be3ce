using System.Diagnostics;
using Moat.Honeyfarm.Lab;

namespace Moat.Honeyfarm.Bench;

/// <summary>Clones per second: a burst of connections to fresh addresses, far more than the warm pool holds.</summary>
internal static class Burst
{
    public static async Task RunAsync(int count)
    {
        const int warm = 16;
        await using var lab = await FarmLab.StartAsync(o => o with { MaxClones = count + 16, WarmClones = warm, ScanFilterInterval = TimeSpan.Zero, IdleTimeout = TimeSpan.FromHours(1) });
        var sockets = Enumerable.Range(0, count).Select(i => Probe.TcpSocket(lab.Internet, FarmLab.Source(i % 8))).ToArray();
        try
        {
            var stopwatch = Stopwatch.StartNew();
            var times = await Task.WhenAll(sockets.Select((s, i) => Probe.ConnectAsync(s, Probe.Dark(i), 22)));
            var total = stopwatch.Elapsed;
            var sorted = times.OrderBy(t => t).ToList();
            Console.WriteLine();
            Console.WriteLine($"## burst: {count} SYNs to fresh addresses from 8 sources at once, warm pool of {warm}");
            Console.WriteLine("| clones | total s | clones/s | p50 answer ms | p99 answer ms |");
            Console.WriteLine("|---|---|---|---|---|");
            Console.WriteLine($"gateway counters: {lab.Gateway.Counters}");
            Console.WriteLine($"| {lab.Gateway.Counters.ClonesBound} | {total.TotalSeconds:0.000} | {count / total.TotalSeconds:0} | {Probe.Ms(Probe.Percentile(sorted, 0.5))} | {Probe.Ms(Probe.Percentile(sorted, 0.99))} |");
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
    }
}
