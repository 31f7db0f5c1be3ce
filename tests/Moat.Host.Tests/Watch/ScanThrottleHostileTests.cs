using Moat.Host.Watch.Throttle;

namespace Moat.Host.Tests.Watch;

/// <summary>A tenant who knows how the throttle counts cannot get a neighbour throttled, nor grow the throttle's state.</summary>
[Trait("Category", "Integration")]
[Collection(ThrottleWorld.Collection)]
[Trait("Category", "Hostile")]
public sealed class ScanThrottleHostileTests
{
    /// <summary>
    /// From the neighbour's namespace: 20 ICMP port unreachables (from its own address, as containment's anti-spoofing
    /// allows) quoting the scanner's live UDP flow 198.18.90.2:40000 → 198.18.91.2:53, which conntrack relates to it.
    /// </summary>
    private const string ForgeUnreachables = """
        import socket, struct
        def csum(b):
            if len(b) % 2: b += b"\0"
            s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
            return (~s) & 0xffff
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, socket.inet_aton("198.18.90.2"), socket.inet_aton("198.18.91.2"))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        quoted = ip + struct.pack("!HHHH", 40000, 53, 8, 0)
        icmp = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        for _ in range(20): s.sendto(icmp, ("198.18.90.2", 0))
        """;

    [Fact]
    public async Task IcmpUnreachablesForgedByANeighbour_DoNotFlagTheSandbox()
    {
        await using var w = await ThrottleWorld.CreateAsync(ScanThrottleOptions.Default);

        // The scanner's UDP flow, answered by the target; it keeps the socket open while the neighbour forges.
        var flow = w.InSandboxAsync("python3", "-c", """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.90.2", 40000)); s.settimeout(5)
            s.sendto(b"q", ("198.18.91.2", 53)); s.recvfrom(64); print("answered", flush=True); time.sleep(3)
            """);
        await Task.Delay(TimeSpan.FromSeconds(1)); // Not synchronisation of the outcome: only lets the flow exist first.
        await w.InPeerAsync(null, "python3", "-c", ForgeUnreachables);
        Assert.Contains("answered", await flow, StringComparison.Ordinal);

        Assert.Equal(0, await w.ThrottleSetSizeAsync(ScanThrottleRules.FailingSet(w.SandboxId)));
        string connect = await w.InSandboxAsync("bash", "-c", "timeout 5 bash -c 'exec 3<>/dev/tcp/198.18.91.3/80' && echo ok");
        Assert.Equal("ok", connect.Trim());
    }

    [Fact]
    public async Task ContactsPastTheSetBound_DoNotGrowTheSandboxesState_NorTouchTheNeighbours()
    {
        // Budgets wide open (the closed ports answer with ICMP unreachables, which would otherwise flag the sandbox
        // after a few): only the set's bound can hold the state.
        var options = ScanThrottleOptions.Default with
        {
            MaxContactsPerSandbox = 16,
            NewContactBurst = 1000,
            NewContactsPerSecond = 1000,
            FailureBurst = 100_000,
            FailuresPerMinute = 100_000,
        };
        await using var w = await ThrottleWorld.CreateAsync(options);

        await w.InSandboxAsync("python3", "-c", """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for port in range(1000, 1200): s.sendto(b"x", ("198.18.91.2", port))
            """);

        int known = await w.ThrottleSetSizeAsync(ScanThrottleRules.KnownSet(w.SandboxId));
        Assert.InRange(known, 1, 16);
        Assert.Equal(0, await w.ThrottleSetSizeAsync(ScanThrottleRules.KnownSet("n" + w.SandboxId[1..])));
    }
}
