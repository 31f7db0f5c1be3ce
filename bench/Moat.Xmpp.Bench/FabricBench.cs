using System.Diagnostics;
using System.Globalization;
using Moat.Host.Client;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Xmpp.Bench;

/// <summary>
/// Hosts on the fabric, against a running agent on the fabric (scripts/up): the same operations through the agent's
/// local Unix socket and as IQs through Prosody, interleaved in one run. Every claim waits for a full warm pool first,
/// so both paths claim warm sandboxes.
/// Usage: dotnet run -c Release --project bench/Moat.Xmpp.Bench -- fabric STATE_DIR [rounds=200] [claims=20]
/// </summary>
internal static class FabricBench
{
    public static async Task RunAsync(string[] args)
    {
        string state = args.Length > 0 ? args[0] : "/var/lib/moat";
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        int claims = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
        const string hostJid = "host@moat.test";
        using var local = new HostClient(Path.Combine(state, "agent.sock"));
        await using var fabric = new FabricClient(FabricOptions.ClientOptions("admin@moat.test", "127.0.0.1", 5222,
            FabricOptions.ReadPassword(Path.Combine(state, "xmpp-secrets", "admin.password"))) with { Resource = "bench" });
        await fabric.ConnectAsync();

        var ping = new List<double>();
        var localStatus = new List<double>();
        var xmppStatus = new List<double>();
        for (int i = 0; i < rounds + 10; i++)
        {
            var sw = Stopwatch.StartNew();
            await fabric.Xmpp.PingAsync();
            var a = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            await local.StatusAsync();
            var b = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            await fabric.StatusAsync(hostJid);
            var c = sw.Elapsed.TotalMilliseconds;
            if (i >= 10)
            {
                ping.Add(a);
                localStatus.Add(b);
                xmppStatus.Add(c);
            }
        }

        var localClaim = new List<double>();
        var xmppClaim = new List<double>();
        var agentClaim = new List<double>();
        int cold = 0;
        for (int i = 0; i < claims; i++)
        {
            foreach (bool overXmpp in new[] { i % 2 == 0, i % 2 != 0 })
            {
                await WaitForFullPoolAsync(local);
                var spec = new SandboxSpec { Name = $"bench-{(overXmpp ? "x" : "l")}{i}", Volume = false };
                var sw = Stopwatch.StartNew();
                var r = overXmpp ? await fabric.ClaimAsync(hostJid, spec) : await local.ClaimAsync(spec);
                (overXmpp ? xmppClaim : localClaim).Add(sw.Elapsed.TotalMilliseconds);
                agentClaim.Add(r.ElapsedMs);
                cold += r.FromPool ? 0 : 1;
                await local.DestroyAsync(r.Sandbox.Id);
            }
        }

        Console.WriteLine($"fabric bench: {rounds} status round trips, {claims} warm claims per path, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores");
        Console.WriteLine($"| what | p50 ms | p99 ms |");
        Console.WriteLine($"|---|---|---|");
        Row("XEP-0199 ping to the server (floor of any IQ)", ping);
        Row("host status, local Unix socket (HTTP)", localStatus);
        Row("host status, IQ to the agent over Prosody", xmppStatus);
        Row("warm claim, local Unix socket (end to end)", localClaim);
        Row("warm claim, IQ over Prosody (end to end)", xmppClaim);
        Row("warm claim inside the agent (its own timer, both paths)", agentClaim);
        Console.WriteLine($"claims served cold (pool not ready): {cold}");
    }

    private static async Task WaitForFullPoolAsync(HostClient local)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await local.PoolAsync()).Any(p => p.Ready < p.Target))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the warm pool did not refill within 60 s");
            }

            await Task.Delay(20);
        }
    }

    private static void Row(string what, List<double> samples)
    {
        samples.Sort();
        double P(double q) => samples[Math.Min(samples.Count - 1, (int)(q * samples.Count))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {what} | {P(0.5):F2} | {P(0.99):F2} |"));
    }
}
