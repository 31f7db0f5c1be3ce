using System.Net;
using Moat.Honeyfarm.Lab;

namespace Moat.Honeyfarm.Bench;

/// <summary>First packet in to first reply out (SYN to SYN-ACK) for an unbound address, the warm pool full; against the floor, a new connection to a bound address.</summary>
internal static class ClaimLatency
{
    public static async Task RunAsync(int samples)
    {
        const int warm = 8;
        await using var lab = await FarmLab.StartAsync(o => o with { MaxClones = samples + 8, WarmClones = warm, ScanFilterInterval = TimeSpan.Zero, IdleTimeout = TimeSpan.FromHours(1) });
        var source = FarmLab.Source(0);
        var claims = new List<TimeSpan>();
        var floor = new List<TimeSpan>();
        for (var i = 0; i < samples; i++)
        {
            await Probe.WaitAsync(() => lab.Gateway.Counters.WarmClones >= warm, TimeSpan.FromSeconds(30));
            using (var s = Probe.TcpSocket(lab.Internet, source))
            {
                claims.Add(await Probe.ConnectAsync(s, Probe.Dark(i), 22));
            }

            using (var s = Probe.TcpSocket(lab.Internet, source))
            {
                floor.Add(await Probe.ConnectAsync(s, Probe.Dark(i), 80));
            }
        }

        // The first samples pay for JIT and first-use costs of the process, not for the claim.
        claims = [.. claims.Skip(3).Order()];
        floor = [.. floor.Skip(3).Order()];
        Console.WriteLine();
        Console.WriteLine($"## first packet to answer (SYN -> SYN-ACK), {samples} fresh addresses (first 3 dropped as warm-up), warm pool of {warm}");
        Console.WriteLine("| path | p50 ms | p99 ms | max ms |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| unbound address: TUN -> universe -> claim warm clone -> bind -> re-inject | {Probe.Ms(Probe.Percentile(claims, 0.5))} | {Probe.Ms(Probe.Percentile(claims, 0.99))} | {Probe.Ms(claims[^1])} |");
        Console.WriteLine($"| floor: bound address, kernel forwarding only | {Probe.Ms(Probe.Percentile(floor, 0.5))} | {Probe.Ms(Probe.Percentile(floor, 0.99))} | {Probe.Ms(floor[^1])} |");
    }
}
