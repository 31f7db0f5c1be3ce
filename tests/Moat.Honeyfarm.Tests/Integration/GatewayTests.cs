using System.Net;
using System.Net.Sockets;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Gateway;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>The gateway against the real kernel: TUN, policy routing, veth-linked clone namespaces and nftables, driven from a test internet.</summary>
[Trait("Category", "Integration")]
public sealed class GatewayTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task FirstSynToADarkAddress_ClaimsACloneThatAnswersAsThatAddress()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var target = IPAddress.Parse("198.18.130.7");

        var greeting = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22);

        Assert.NotNull(greeting);
        Assert.StartsWith("SSH-2.0-", greeting);
        Assert.Contains("address=198.18.130.7", greeting);
        var universe = Assert.Single(farm.Gateway.Universes());
        Assert.Equal(FarmTopology.Attacker1, universe.Attacker);
        Assert.Equal(target, Assert.Single(universe.Clones).Address);

        // Later connections go straight to the clone through the kernel: same clone, no new claim.
        var again = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 80);
        Assert.Equal(Host(greeting), Host(again!));
        Assert.Equal(1, farm.Gateway.Counters.ClonesBound);
    }

    [Fact]
    public async Task UdpAndIcmpToDarkAddresses_AreAnsweredByClones()
    {
        await using var farm = await FarmTopology.CreateAsync();

        var answer = await farm.UdpAsync(FarmTopology.Attacker1, IPAddress.Parse("198.18.200.1"), 53, Deadline);
        var pinged = await farm.PingAsync(FarmTopology.Attacker1, IPAddress.Parse("198.18.200.2"));

        // "hello" came from a sender that never connected: the answer is the greeting cut to the datagram's size.
        Assert.Equal("SSH-2", answer);
        Assert.True(pinged, "ping to an unbound dark address got no reply");
        Assert.Equal(2, farm.Gateway.Counters.ClonesBound);
    }

    [Fact]
    public async Task TwoAttackersOnOneAddress_GetDifferentClonesInSeparateUniverses()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var target = IPAddress.Parse("198.18.131.1");

        var first = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22);
        var second = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, target, 22);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.NotEqual(Host(first), Host(second));
        Assert.NotEqual(Field(first, "universe"), Field(second, "universe"));
        var universes = farm.Gateway.Universes();
        Assert.Equal(2, universes.Count);
        Assert.All(universes, u => Assert.Equal(target, Assert.Single(u.Clones).Address));

        // Each attacker keeps reaching its own clone.
        Assert.Equal(Host(first), Host((await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 80))!));
        Assert.Equal(Host(second), Host((await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, target, 80))!));
    }

    [Fact]
    public async Task WithSharedFractionOne_AllSourcesShareOneUniverseAndSeeTheSameClone()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { SharedFraction = 1 });
        var target = IPAddress.Parse("198.18.132.1");

        var first = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22);
        var second = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, target, 22);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Equal(Host(first), Host(second));
        var universe = Assert.Single(farm.Gateway.Universes());
        Assert.Null(universe.Attacker);
        Assert.Single(universe.Clones);
    }

    [Fact]
    public async Task Reflect_ACloneConnectingOut_ReachesANewCloneInItsOwnUniverse_AndNothingLeaves()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { Export = ExportPolicy.Reflect });
        await using var victim = await Listener.StartAsync(farm.Inet, FarmTopology.Victim, 22);
        var infected = IPAddress.Parse("198.18.140.1");
        var first = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, infected, 22);
        Assert.NotNull(first);
        var clone = Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);

        // The "worm" in the clone spreads to a dark neighbour and to an outside host.
        using var inside = FarmTopology.Open(clone.Name);
        var neighbour = await FarmTopology.GreetingAsync(inside, null, IPAddress.Parse("198.18.140.2"), 22);
        var outside = await FarmTopology.GreetingAsync(inside, null, FarmTopology.Victim, 22);

        Assert.NotNull(neighbour);
        Assert.NotNull(outside);
        Assert.Contains("address=198.18.140.2", neighbour);
        Assert.Contains("address=198.18.96.4", outside);
        Assert.Equal(Field(first, "universe"), Field(neighbour, "universe"));
        Assert.Equal(Field(first, "universe"), Field(outside, "universe"));
        Assert.Equal(0, victim.Accepted);
        var universe = Assert.Single(farm.Gateway.Universes());
        Assert.Contains((infected, IPAddress.Parse("198.18.140.2")), universe.Infections);
        Assert.Contains((infected, FarmTopology.Victim), universe.Infections);

        // The second attacker's universe has none of it.
        var other = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, IPAddress.Parse("198.18.140.2"), 22);
        Assert.NotEqual(Host(neighbour), Host(other!));
    }

    [Fact]
    public async Task Block_ACloneConnectingOut_IsDropped()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { Export = ExportPolicy.Block });
        await using var victim = await Listener.StartAsync(farm.Inet, FarmTopology.Victim, 22);
        await using var attackerService = await Listener.StartAsync(farm.Inet, FarmTopology.Attacker1, 8080);
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.150.1"), 22));
        var clone = Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);

        using var inside = FarmTopology.Open(clone.Name);
        var short_ = TimeSpan.FromSeconds(2);
        Assert.Null(await FarmTopology.GreetingAsync(inside, null, FarmTopology.Victim, 22, short_));
        Assert.Null(await FarmTopology.GreetingAsync(inside, null, IPAddress.Parse("198.18.150.2"), 22, short_));
        Assert.Null(await FarmTopology.GreetingAsync(inside, null, FarmTopology.Attacker1, 8080, short_));

        Assert.Equal(0, victim.Accepted);
        Assert.Equal(0, attackerService.Accepted);
        Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);
        Assert.True(await farm.Gateway.BlockedPacketsAsync() >= 3);
    }

    [Fact]
    public async Task ReplyOnly_ACloneMayConnectBackToItsAttackerButNowhereElse()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { Export = ExportPolicy.ReplyOnly });
        await using var victim = await Listener.StartAsync(farm.Inet, FarmTopology.Victim, 22);
        await using var attackerService = await Listener.StartAsync(farm.Inet, FarmTopology.Attacker1, 8080);
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.150.1"), 22));
        var clone = Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);

        using var inside = FarmTopology.Open(clone.Name);
        Assert.True(await attackerService.ConnectFromAsync(inside, TimeSpan.FromSeconds(5)));
        Assert.Null(await FarmTopology.GreetingAsync(inside, null, FarmTopology.Victim, 22, TimeSpan.FromSeconds(2)));

        Assert.Equal(1, attackerService.Accepted);
        Assert.Equal(0, victim.Accepted);
    }

    [Fact]
    public async Task ScanFilter_AHorizontalScan_BindsOneClonePerSourcePortAndProtocol()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { ScanFilterInterval = TimeSpan.FromMinutes(10) });
        using var socket = NamespaceRunner.Run(farm.Inet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(FarmTopology.Attacker1, 0));
        for (var i = 1; i <= 20; i++)
        {
            await socket.SendToAsync("scan"u8.ToArray(), SocketFlags.None, new IPEndPoint(IPAddress.Parse($"198.18.160.{i}"), 53));
        }

        Assert.True(await FarmTopology.EventuallyAsync(() => farm.Gateway.Counters is { ClonesBound: 1, ScanFiltered: 19 }, Deadline), $"{farm.Gateway.Counters}");

        // Another port from the same source is a different key.
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.160.50"), 22));
        Assert.Equal(2, farm.Gateway.Counters.ClonesBound);
    }

    [Fact]
    public async Task WhenFull_TheLongestIdleCloneIsRecycledForTheNewAddress()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { MaxClones = 2, WarmClones = 1, RecycleAfterIdle = TimeSpan.Zero });
        var a = IPAddress.Parse("198.18.170.1");
        var b = IPAddress.Parse("198.18.170.2");
        var c = IPAddress.Parse("198.18.170.3");

        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, a, 22));
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, b, 22));
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, c, 22));

        var addresses = Assert.Single(farm.Gateway.Universes()).Clones.Select(x => x.Address).ToHashSet();
        Assert.Equal([b, c], addresses);
        Assert.Equal(1, farm.Gateway.Counters.ClonesRecycled);
    }

    [Fact]
    public async Task WhenFullAndPolicyIsDrop_NewAddressesStayDark()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { MaxClones = 1, WarmClones = 1, WhenFull = FullPolicy.Drop });

        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.171.1"), 22));
        Assert.Null(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.171.2"), 22, TimeSpan.FromSeconds(2)));

        Assert.True(farm.Gateway.Counters.DroppedFull >= 1);
        Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);
    }

    [Fact]
    public async Task AnIdleClone_IsRecycled_AndItsAddressIsBoundAfreshOnTheNextPacket()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { IdleTimeout = TimeSpan.FromMilliseconds(500) });
        var target = IPAddress.Parse("198.18.180.1");
        var first = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22);
        Assert.NotNull(first);
        var name = Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones).Name;

        var universe = Assert.Single(farm.Gateway.Universes()).Id;
        Assert.True(await FarmTopology.EventuallyAsync(() => farm.Gateway.Universes().All(u => u.Clones.Count == 0), Deadline));
        Assert.True(await FarmTopology.EventuallyAsync(() => !NetworkNamespace.Exists(name), Deadline));
        // With no clone left and no packet from its source, the universe itself is closed.
        Assert.True(await FarmTopology.EventuallyAsync(() => farm.Gateway.Universes().Count == 0, Deadline));
        Assert.Equal(1, farm.Gateway.Counters.UniversesClosed);

        var second = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22);
        Assert.NotNull(second);
        Assert.NotEqual(Host(first), Host(second));
        Assert.NotEqual(universe, Assert.Single(farm.Gateway.Universes()).Id);
    }

    [Fact]
    public async Task A_range_with_its_own_personality_is_answered_by_clones_of_that_personality()
    {
        var iot = Moat.Honeyfarm.Clones.Personality.Known["iot-telnet"];
        await using var farm = await FarmTopology.CreateAsync(o => o with { Personalities = [new(IPNetwork.Parse("198.18.200.0/24"), iot)] });

        var telnet = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.200.7"), 23);
        Assert.NotNull(telnet);
        Assert.StartsWith("BusyBox", telnet);
        // The range's clones offer only the personality's ports; elsewhere the default personality answers.
        Assert.Null(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.200.7"), 22, TimeSpan.FromSeconds(2)));
        var ssh = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.130.7"), 22);
        Assert.StartsWith("SSH-2.0-", ssh);

        var clones = Assert.Single(farm.Gateway.Universes()).Clones;
        Assert.Equal("iot-telnet", clones.Single(c => c.Address.Equals(IPAddress.Parse("198.18.200.7"))).Personality);
        Assert.Equal("linux-server", clones.Single(c => c.Address.Equals(IPAddress.Parse("198.18.130.7"))).Personality);
    }

    [Fact]
    public async Task Scrubbed_dns_answers_clones_with_dark_addresses_at_a_bounded_rate_and_nobody_outside()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { ScrubbedDns = true, DnsQueriesPerSecond = 5 });
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.151.1"), 22));
        var clone = Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones);
        using var inside = FarmTopology.Open(clone.Name);
        var resolver = new IPEndPoint(IPAddress.Parse("169.254.53.53"), 53);

        var answer = await DnsAsync(inside, resolver, "c2.example.net", TimeSpan.FromSeconds(5));
        Assert.NotNull(answer);
        Assert.True(FarmTopology.Dark.Contains(answer), $"{answer} is not in the dark range");
        Assert.Equal(answer, await DnsAsync(inside, resolver, "C2.example.net", TimeSpan.FromSeconds(5)));

        // A burst far above the rate: the kernel drops what is over it before the resolver sees it.
        using (var socket = NamespaceRunner.Run(inside, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
        {
            for (var i = 0; i < 200; i++)
            {
                await socket.SendToAsync(DnsQuery("burst" + i + ".example"), SocketFlags.None, resolver);
            }
        }

        Assert.True(await FarmTopology.EventuallyAsync(() => farm.Gateway.Counters.DnsAnswered >= 3, Deadline));
        Assert.True(farm.Gateway.Counters.DnsAnswered < 202, $"{farm.Gateway.Counters.DnsAnswered} answered: the rate limit let everything through");

        // From the outside nobody gets an answer: not at the gateway's outside address, not at the clones' resolver address.
        Assert.Null(await DnsAsync(farm.Inet, new IPEndPoint(IPAddress.Parse("198.18.96.1"), 53), "x.example", TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Without_scrubbed_dns_a_clone_gets_nothing_from_the_gateway_itself()
    {
        await using var farm = await FarmTopology.CreateAsync();
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.152.1"), 22));
        using var inside = FarmTopology.Open(Assert.Single(Assert.Single(farm.Gateway.Universes()).Clones).Name);
        var before = await farm.Gateway.BlockedPacketsAsync();
        Assert.Null(await DnsAsync(inside, new IPEndPoint(IPAddress.Parse("169.254.1.1"), 53), "x.example", TimeSpan.FromSeconds(1))); // the gateway itself
        Assert.True(await farm.Gateway.BlockedPacketsAsync() > before);
    }

    private static byte[] DnsQuery(string name)
    {
        var q = new List<byte> { 0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            q.Add((byte)label.Length);
            q.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        q.AddRange([0, 0, 1, 0, 1]);
        return [.. q];
    }

    /// <summary>Asks RESOLVER for NAME's A record from namespace NS; the address answered, or null when nothing came.</summary>
    private static async Task<IPAddress?> DnsAsync(NetworkNamespace ns, IPEndPoint resolver, string name, TimeSpan deadline)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        using var timeout = new CancellationTokenSource(deadline);
        var buffer = new byte[512];
        try
        {
            await socket.SendToAsync(DnsQuery(name), SocketFlags.None, resolver, timeout.Token);
            var r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            return r.ReceivedBytes >= 16 && buffer[7] == 1 ? new IPAddress(buffer.AsSpan(r.ReceivedBytes - 4, 4)) : null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Fact]
    public async Task Each_universe_has_its_own_capture_holding_its_attacker_s_traffic_and_no_other()
    {
        var dir = Path.Combine(Path.GetTempPath(), "moat-hf-cap-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var farm = await FarmTopology.CreateAsync(o => o with { CaptureDir = dir });
            var target = IPAddress.Parse("198.18.153.9");
            Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22));
            Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, target, 22));
            var universes = farm.Gateway.Universes();
            Assert.Equal(2, universes.Count);
            foreach (var u in universes)
            {
                Assert.True(await farm.Gateway.CloseUniverseAsync(u.Id));
            }

            foreach (var u in universes)
            {
                // Read back by tcpdump: the file is a standard pcap, and holds this universe's attacker only.
                var text = await SweepTests.RunAsync("tcpdump", "-n", "-r", u.Capture!);
                var other = u.Attacker!.Equals(FarmTopology.Attacker1) ? FarmTopology.Attacker2 : FarmTopology.Attacker1;
                Assert.Contains($"IP {u.Attacker}.", text);
                Assert.Contains($"> {target}.22:", text);
                Assert.DoesNotContain(other.ToString(), text);
            }

            Assert.True(farm.Gateway.Counters.PacketsCaptured > 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Dispose_LeavesNoCloneNamespacesRulesOrTables()
    {
        var farm = await FarmTopology.CreateAsync();
        string[] clones;
        try
        {
            Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, IPAddress.Parse("198.18.190.1"), 22));
            Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, IPAddress.Parse("198.18.190.1"), 22));
            clones = [.. farm.Gateway.Universes().SelectMany(u => u.Clones).Select(c => c.Name)];
            await farm.Gateway.DisposeAsync();

            Assert.All(clones, n => Assert.False(NetworkNamespace.Exists(n), $"{n} outlived the gateway"));
            using var rtnl = Moat.Linux.Netlink.RtNetlink.OpenIn(farm.GatewayNamespace);
            Assert.DoesNotContain(rtnl.ListRules(), r => r.Table >= 1000);
            Assert.DoesNotContain(rtnl.ListLinks(), l => l.Name.StartsWith("hc", StringComparison.Ordinal) || l.Name.StartsWith("hf", StringComparison.Ordinal));
        }
        finally
        {
            await farm.DisposeAsync();
        }
    }

    private static string Host(string greeting) => Field(greeting, "host");

    private static string Field(string greeting, string name)
    {
        var start = greeting.IndexOf(name + "=", StringComparison.Ordinal) + name.Length + 1;
        var end = greeting.IndexOfAny([' ', '\r', '\n'], start);
        return greeting[start..end];
    }
}
