using System.Diagnostics;
using System.Text.RegularExpressions;
using Moat.Honeyfarm.Lab;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// A live masscan of the whole dark range from the lab's internet (masscan's own TCP stack, raw packets), with the
/// scan filter at its 60 s default and in-process clones: clones bound against addresses probed, and what masscan saw.
/// </summary>
internal static partial class LiveMasscan
{
    public static async Task RunAsync(int rate)
    {
        await using var lab = await FarmLab.StartAsync(o => o with { ScanFilterInterval = TimeSpan.FromSeconds(60), WarmClones = 8, MaxClones = 256 });
        var mac = Mac().Match(await Probe.RunAsync("ip", "-n", lab.GatewayNamespace.Name, "link", "show", "out0")).Groups[1].Value;
        var addresses = 1L << (32 - FarmLab.Dark.PrefixLength);
        var stopwatch = Stopwatch.StartNew();
        var output = await Probe.RunAsync("ip", "netns", "exec", lab.Internet.Name, "masscan", FarmLab.Dark.ToString(), "-p22", "--rate",
            rate.ToString(System.Globalization.CultureInfo.InvariantCulture), "--wait", "3", "--adapter", "eth0", "--adapter-ip", FarmLab.Source(0).ToString(), "--router-mac", mac);
        var elapsed = stopwatch.Elapsed;
        var found = Discovered().Matches(output).Count;
        var c = lab.Gateway.Counters;
        Console.WriteLine();
        Console.WriteLine($"## live masscan of the whole dark range {FarmLab.Dark} (port 22, {rate} packets/s), scan filter 60 s");
        Console.WriteLine("| addresses probed | time s | packets into the gateway | clones bound | scan-filtered | open ports masscan saw |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Console.WriteLine($"| {addresses} | {elapsed.TotalSeconds:0.0} | {c.PacketsIn} | {c.ClonesBound} | {c.ScanFiltered} | {found} |");
    }

    [GeneratedRegex(@"link/ether ([0-9a-f:]{17})")]
    private static partial Regex Mac();

    [GeneratedRegex(@"Discovered open port 22/tcp")]
    private static partial Regex Discovered();
}
