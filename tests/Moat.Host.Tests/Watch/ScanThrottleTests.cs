using Moat.Host.Watch.Throttle;
using Xunit.Abstractions;

namespace Moat.Host.Tests.Watch;

/// <summary>
/// The data-path scan throttle against real scanners (nmap, masscan) between test namespaces: at most 10 probes of a
/// fast scan reach the target, with no user-space verdict; a browser-like burst of 60 connections is never throttled.
/// </summary>
[Trait("Category", "Integration")]
[Collection(ThrottleWorld.Collection)]
public sealed class ScanThrottleTests(ITestOutputHelper output)
{
    private const int MaxProbes = 10;

    [Fact]
    public async Task NmapConnectScan_WithoutTheThrottle_All96ProbesReachTheTarget()
    {
        await using var w = await ThrottleWorld.CreateAsync(throttle: null);

        await w.InSandboxAsync("nmap", "-n", "-Pn", "-sT", "-T4", "--max-retries", "2", "-p", "1-96", ThrottleWorld.Target);

        Assert.Equal(96, await w.ProbesReachedAsync());
    }

    [Theory]
    [InlineData("-sT", "9,13,17", "198.18.91.2-33")] // the live benchmark's scan: 3 ports of 32 hosts
    [InlineData("-sT", "1-96", ThrottleWorld.Target)]
    [InlineData("-sS", "1-1000", ThrottleWorld.Target)]
    [InlineData("-sF", "1-1000", ThrottleWorld.Target)]
    [InlineData("-sA", "1-1000", ThrottleWorld.Target)]
    [InlineData("-sU", "1-60", ThrottleWorld.Target)]
    public async Task NmapScan_WithTheThrottle_AtMost10ProbesReachTheTarget(string technique, string ports, string targets)
    {
        await using var w = await ThrottleWorld.CreateAsync(ScanThrottleOptions.Default);

        await w.InSandboxAsync("nmap", "-n", "-Pn", technique, "-T4", "--max-retries", "2", "--host-timeout", "60s", "-p", ports, targets);

        int reached = await w.ProbesReachedAsync();
        output.WriteLine($"probes reached the target: {reached}");
        Assert.InRange(reached, 0, MaxProbes);
    }

    [Fact]
    public async Task MasscanUdp_WithTheThrottle_AtMost10ProbesReachTheTarget()
    {
        await using var w = await ThrottleWorld.CreateAsync(ScanThrottleOptions.Default);
        string mac = (await ThrottleWorld.RunAsync("ip", "netns", "exec", w.Host, "cat", $"/sys/class/net/{w.SandboxInterface}/address")).Trim();

        await w.InSandboxAsync("masscan", ThrottleWorld.Target, "--adapter", "eth0", "--adapter-ip", ThrottleWorld.Scanner, "--router-mac", mac, "-pU:1-100", "--rate", "2000", "--wait", "2");

        int reached = await w.ProbesReachedAsync();
        output.WriteLine($"probes reached the target: {reached}");
        Assert.InRange(reached, 0, MaxProbes);
    }

    [Fact]
    public async Task BrowserLikeBurstOf60Connections_IsNeverThrottled()
    {
        await using var w = await ThrottleWorld.CreateAsync(ScanThrottleOptions.Default);

        // A page load: 60 connections at once to 6 hosts on ports 80 and 443 (12 new contacts).
        string script = string.Join(" ", Enumerable.Range(0, 60).Select(i =>
            $"(timeout 5 bash -c 'exec 3<>/dev/tcp/198.18.91.{2 + (i % 6)}/{(i % 12 < 6 ? 80 : 443)}' && echo ok) &")) + " wait";
        string output = await w.InSandboxAsync("bash", "-c", script);

        Assert.Equal(60, output.Split('\n').Count(l => l == "ok"));
        Assert.Equal(0, await w.DroppedAsync());
        Assert.Equal(0, await w.ThrottleSetSizeAsync(ScanThrottleRules.FailingSet(w.SandboxId)));
    }
}
