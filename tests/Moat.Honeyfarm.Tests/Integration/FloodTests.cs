using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// The internet in front of the farm lies about its addresses: floods of first packets from spoofed sources, and
/// datagrams whose answers would land on someone who never asked. All traffic stays in the test's namespaces; every
/// spoofed source lies in 198.18.0.0/15 outside the dark range.
/// </summary>
[Collection(ContainerCloneTests.Name)]
public sealed class FloodTests
{
    private const int SpoofedSources = 98_000;

    [Fact]
    [Trait("Category", "Hostile")]
    [Trait("Category", "Integration")]
    public async Task A_spoofed_syn_flood_from_98000_sources_leaves_rules_sources_and_universes_bounded_and_real_contacts_served()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var served = IPAddress.Parse("198.18.140.1");
        using var before = await OpenAsync(farm.Inet, FarmTopology.Attacker1, served, 22);
        var packetsBefore = farm.Gateway.Counters.PacketsIn;

        var stopwatch = Stopwatch.StartNew();
        var sent = SendSpoofedSyns(farm.Inet, SpoofedSources);
        var flooded = stopwatch.Elapsed;

        // A new contact after the flood: its first SYN queues behind every flood packet the kernel kept, so its greeting
        // also says the gateway has been through them all.
        var fresh = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, IPAddress.Parse("198.18.150.1"), 22, TimeSpan.FromSeconds(20));
        Assert.True(fresh is not null, $"a real contact after the flood was not served ({farm.Gateway.Counters})");

        var counters = farm.Gateway.Counters;
        Assert.True(sent >= SpoofedSources * 9 / 10, $"only {sent} of {SpoofedSources} spoofed SYNs left the test internet");
        Assert.True(counters.PacketsIn - packetsBefore >= 1_000, $"the flood did not reach the gateway: {counters}");
        Assert.True(flooded < TimeSpan.FromSeconds(60), $"sending the flood took {flooded}");

        // Kernel state: one rule per source the gateway keeps, never more than MaxSources, whatever the flood.
        using (var rtnl = RtNetlink.OpenIn(farm.GatewayNamespace))
        {
            var rules = rtnl.ListRules();
            var sourceRules = rules.Count(r => r.Priority == 200);
            Assert.True(sourceRules <= farm.Gateway.Options.MaxSources, $"{sourceRules} source rules after the flood");
            Assert.True(rules.Count <= farm.Gateway.Options.MaxSources + farm.Gateway.Options.MaxUniverses + farm.Gateway.Options.MaxClones + 8, $"{rules.Count} rules after the flood");
        }

        Assert.True(farm.Gateway.Universes().Count <= farm.Gateway.Options.MaxUniverses + 1, $"{farm.Gateway.Universes().Count} universes");
        Assert.True(counters.Sources <= farm.Gateway.Options.MaxSources, $"{counters.Sources} sources kept");
        Assert.True(counters.SourcesRefused > 0, $"no new source was refused: {counters}");
        Assert.True(counters.LiveClones <= farm.Gateway.Options.MaxClones);

        // The contact made before the flood still has its clone: it echoes.
        Assert.Equal("still there\n", await EchoAsync(before, "still there\n"));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    [Trait("Category", "Integration")]
    public async Task At_MaxSources_new_sources_replace_the_shared_universes_stalest_and_a_dedicated_universe_keeps_its_source()
    {
        await using var farm = await FarmTopology.CreateAsync(o => o with { MaxUniverses = 1, MaxSources = 64, NewSourcesPerSecond = 100_000 });
        var served = IPAddress.Parse("198.18.140.1");
        using var before = await OpenAsync(farm.Inet, FarmTopology.Attacker1, served, 22);

        var sent = SendSpoofedSyns(farm.Inet, 2_000);
        var fresh = await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, IPAddress.Parse("198.18.150.1"), 22, TimeSpan.FromSeconds(20));

        var counters = farm.Gateway.Counters;
        Assert.True(fresh is not null, $"a real contact after the flood was not served ({counters})");
        Assert.True(counters.SourcesEvicted > 0, $"no source was evicted after {sent} spoofed sources: {counters}");
        Assert.True(counters.Sources <= 64, $"{counters.Sources} sources kept");
        using (var rtnl = RtNetlink.OpenIn(farm.GatewayNamespace))
        {
            var sourceRules = rtnl.ListRules().Where(r => r.Priority == 200).ToList();
            Assert.True(sourceRules.Count <= 64, $"{sourceRules.Count} source rules with MaxSources 64");
            Assert.Contains(sourceRules, r => r.Source == new IPNetwork(FarmTopology.Attacker1, 32));
        }

        Assert.True(farm.Gateway.Universes().Count <= 2);
        Assert.Equal("still there\n", await EchoAsync(before, "still there\n"));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    [Trait("Category", "Integration")]
    public async Task A_spoofed_syn_gets_one_syn_ack_not_a_train_of_retransmissions()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var spoofed = IPAddress.Parse("198.19.7.7");
        // Captured where the clone's packets enter the gateway: nobody answers ARP for a spoofed address, so nothing leaves out0.
        await using var capture = await Capture.StartAsync(farm.GatewayNamespace.Name, "any", $"inbound and tcp and src net {FarmTopology.Dark} and dst host {spoofed}");

        NamespaceRunner.Run(farm.Inet, () =>
        {
            using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
            var packet = new byte[40];
            Syn(packet, 0xC6130707u, BinaryPrimitives.ReadUInt32BigEndian(IPAddress.Parse("198.18.141.1").GetAddressBytes()), 40_000);
            raw.SendTo(packet, new IPEndPoint(IPAddress.Parse("198.18.141.1"), 0));
        });
        Assert.True(await FarmTopology.EventuallyAsync(() => farm.Gateway.Counters.ClonesBound == 1, TimeSpan.FromSeconds(10)));

        // The observation window is what is measured: a clone's kernel retransmits an unanswered SYN-ACK after 1 s and 3 s.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        var synAcks = (await capture.StopAsync()).Count(l => Capture.Packet().Match(l) is { Success: true } m && m.Groups["flags"].Value == "S.");

        Assert.Equal(1, synAcks);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    [Trait("Category", "Integration")]
    public async Task A_udp_sender_that_has_not_connected_gets_no_more_bytes_than_it_sent()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var target = IPAddress.Parse("198.18.200.1");
        using var socket = NamespaceRunner.Run(farm.Inet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(FarmTopology.Attacker1, 0));
        var to = new IPEndPoint(target, 53);

        // The first datagram binds the clone; the rest meet it. Sizes from 1 byte up, as an amplification scanner sends.
        long bytesIn = 0;
        long bytesOut = 0;
        var answers = 0;
        var stopwatch = Stopwatch.StartNew();
        var buffer = new byte[2048];
        for (var i = 0; i < 300; i++)
        {
            var size = 1 + (i % 40);
            await socket.SendToAsync(new byte[size], SocketFlags.None, to);
            bytesIn += size;
            while (socket.Available > 0 || (i == 0 && await ReplyWithinAsync(socket, TimeSpan.FromSeconds(5))))
            {
                bytesOut += socket.Receive(buffer);
                answers++;
            }
        }

        // Replies still in flight are counted too: wait until none came for a while (a bounded drain, not a timing claim).
        while (await ReplyWithinAsync(socket, TimeSpan.FromMilliseconds(500)))
        {
            bytesOut += socket.Receive(buffer);
            answers++;
        }

        var elapsed = stopwatch.Elapsed;
        Assert.True(answers > 0, "the clone answered nothing at all");
        Assert.True(bytesOut <= bytesIn, $"{bytesIn} bytes in, {bytesOut} bytes out in {answers} answers: amplification {(double)bytesOut / bytesIn:F2}");
        var limits = farm.Gateway.Options.UdpReplies;
        Assert.True(answers <= limits.PerSenderPerSecond * (1 + elapsed.TotalSeconds) + 1, $"{answers} answers in {elapsed} to one sender");

        // A sender that completed a TCP handshake with the clone is proven to receive at its address: it gets the whole answer.
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22));
        var answer = await farm.UdpAsync(FarmTopology.Attacker1, target, 53, TimeSpan.FromSeconds(10));
        Assert.NotNull(answer);
        Assert.Contains("address=198.18.200.1", answer);
    }

    private static async Task<bool> ReplyWithinAsync(Socket socket, TimeSpan wait)
    {
        var stopwatch = Stopwatch.StartNew();
        while (socket.Available == 0 && stopwatch.Elapsed < wait)
        {
            await Task.Delay(5);
        }

        return socket.Available > 0;
    }

    /// <summary>Connects and reads the clone's greeting; the socket stays open.</summary>
    private static async Task<Socket> OpenAsync(NetworkNamespace ns, IPAddress from, IPAddress address, int port)
    {
        var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
            var text = new StringBuilder();
            var buffer = new byte[1024];
            while (!text.ToString().Contains("address=", StringComparison.Ordinal) || !text.ToString().EndsWith('\n'))
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                Assert.True(n > 0, "the clone closed before its greeting");
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<string> EchoAsync(Socket socket, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, timeout.Token);
        var received = new StringBuilder();
        var buffer = new byte[256];
        while (received.Length < text.Length)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (n == 0)
            {
                break;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return received.ToString();
    }

    /// <summary>
    /// SYNs to port 22 of dark addresses, each from a distinct spoofed source of 198.19.0.0/16 and then 198.18.0.0/17
    /// (but the test internet's 198.18.96.0/24), through a raw socket of the test internet. Returns how many left.
    /// </summary>
    private static int SendSpoofedSyns(NetworkNamespace ns, int count)
    {
        return NamespaceRunner.Run(ns, () =>
        {
            using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
            var packet = new byte[40];
            var sent = 0;
            var dark = BinaryPrimitives.ReadUInt32BigEndian(FarmTopology.Dark.BaseAddress.GetAddressBytes());
            var i = 0;
            for (uint n = 0; sent < count && n < (1u << 17); n++)
            {
                var source = n < 65_536 ? 0xC6130000u | n : 0xC6120000u | (n - 65_536);
                if ((source & 0xFFFFFF00u) == 0xC6126000u)
                {
                    continue; // 198.18.96.0/24 is the test internet itself
                }

                var destination = dark | (uint)(1 + (i++ % 30_000));
                Syn(packet, source, destination, (ushort)(1024 + (n % 60_000)));
                try
                {
                    raw.SendTo(packet, new IPEndPoint(new IPAddress(packet.AsSpan(16, 4)), 0));
                    sent++;
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.NoBufferSpaceAvailable)
                {
                    // The sender's own queue is full: this one is not sent, and is not counted.
                }
            }

            return sent;
        });
    }

    private static void Syn(Span<byte> p, uint source, uint destination, ushort sourcePort)
    {
        p.Clear();
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], 40);
        p[8] = 64;
        p[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(p[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(p[16..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(p[10..], Checksum(p[..20], 0));
        var tcp = p[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 22);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], source ^ 0x5a5a5a5a);
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 64_240);
        var pseudo = (ulong)(source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + 6 + 20;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum(tcp, pseudo));
    }

    private static ushort Checksum(ReadOnlySpan<byte> data, ulong sum)
    {
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
