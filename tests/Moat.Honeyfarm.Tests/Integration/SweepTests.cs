using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Moat.Honeyfarm.Gateway;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// Real scanners against the farm from the test internet: nmap and masscan sweeping a /24 of the dark range.
/// The scan filter gives each (source, port, protocol) one clone per interval, the scanners see exactly that one
/// machine, and a capture on the internet side shows the farm sending nothing but replies to the scanner.
/// </summary>
[Trait("Category", "Integration")]
[Collection(ContainerCloneTests.Name)]
public sealed partial class SweepTests
{
    [Fact]
    public async Task Nmap_and_masscan_sweeps_get_one_clone_each_and_the_farm_sends_only_replies_to_them()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { ScanFilterInterval = TimeSpan.FromSeconds(60), MaxClones = 64 });
        await using var capture = await Capture.StartAsync(farm.Inet.Name, "eth0", "src net " + FarmTopology.Dark);

        var nmap = await RunAsync("ip", "netns", "exec", farm.Inet.Name, "nmap", "-n", "-Pn", "-sS", "-p", "22", "--max-retries", "1", "-T5",
            "-S", FarmTopology.Attacker1.ToString(), "-e", "eth0", "-oG", "-", "198.18.200.0/24");
        var nmapOpen = OpenPort().Matches(nmap).Count;

        var mac = MacAddress().Match(await RunAsync("ip", "-n", farm.GatewayNamespace.Name, "link", "show", "out0")).Groups[1].Value;
        var masscan = await RunAsync("ip", "netns", "exec", farm.Inet.Name, "masscan", "198.18.201.0/24", "-p80", "--rate", "2000", "--wait", "2",
            "--adapter", "eth0", "--adapter-ip", FarmTopology.Attacker2.ToString(), "--router-mac", mac);
        var masscanOpen = Discovered().Matches(masscan).Count;

        var lines = await capture.StopAsync();

        // One clone per (source, port, protocol) and interval: 256 probes each, one machine each.
        Assert.Equal(1, nmapOpen);
        Assert.Equal(1, masscanOpen);
        Assert.Equal(2, farm.Gateway.Counters.ClonesBound);
        Assert.True(farm.Gateway.Counters.ScanFiltered >= 2 * 250, $"{farm.Gateway.Counters.ScanFiltered} probes filtered");

        // Everything the farm sent to the internet answered a scanner: to a scanner's address, never a new SYN.
        Assert.NotEmpty(lines);
        foreach (var line in lines)
        {
            var m = Capture.Packet().Match(line);
            Assert.True(m.Success, $"unparsed capture line: [{line}] of {string.Join(" | ", lines)}");
            Assert.Contains(IPAddress.Parse(m.Groups["dst"].Value), new[] { FarmTopology.Attacker1, FarmTopology.Attacker2 });
            Assert.NotEqual("S", m.Groups["flags"].Value);
        }
    }

    [Fact]
    public async Task A_syn_flood_at_a_full_farm_is_dropped_and_the_farm_keeps_serving_big_fragmented_packets_too()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { ScanFilterInterval = TimeSpan.Zero, MaxClones = 8, WarmClones = 2, WhenFull = FullPolicy.Drop });
        var bound = IPAddress.Parse("198.18.129.1");
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, bound, 22));

        // 4,096 addresses at 2,000 SYNs a second from masscan's own stack: the farm fills up and drops the rest (a busy
        // gateway may lose some to its TUN queue, so only half are required to have been seen and dropped).
        var mac = MacAddress().Match(await RunAsync("ip", "-n", farm.GatewayNamespace.Name, "link", "show", "out0")).Groups[1].Value;
        await RunAsync("ip", "netns", "exec", farm.Inet.Name, "masscan", "198.18.160.0/20", "-p22", "--rate", "2000", "--wait", "1",
            "--adapter", "eth0", "--adapter-ip", FarmTopology.Attacker1.ToString(), "--router-mac", mac);
        var c = farm.Gateway.Counters;
        Assert.True(c.LiveClones <= 8, $"{c.LiveClones} live clones");
        Assert.True(c.DroppedFull > 2048, $"{c.DroppedFull} dropped as full");

        // Still serving: the clone bound before the flood answers, and a 4,000-byte ping (fragmented on the way)
        // reaches it and comes back.
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, bound, 80));
        Assert.True(await farm.PingAsync(FarmTopology.Attacker2, bound, size: 4000));
    }

    [GeneratedRegex(@"Ports: 22/open/tcp")]
    private static partial Regex OpenPort();

    [GeneratedRegex(@"Discovered open port 80/tcp on 198\.18\.201\.\d+")]
    private static partial Regex Discovered();

    [GeneratedRegex(@"link/ether ([0-9a-f:]{17})")]
    private static partial Regex MacAddress();

    // e.g. "IP 198.18.200.7.22 > 198.18.96.2.61423: Flags [S.], seq ..."


    internal static async Task<string> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(timeout.Token);
        Assert.True(p.ExitCode == 0, $"{string.Join(' ', args)} exited {p.ExitCode}: {await error}");
        return await output + await error;
    }
}
