using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Containment;
using Moat.Images.Store;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// UDP in container clones (issue 17 §3): the image's UDP services answer DNS, NTP and SNMP; port 1434 runs what it
/// receives, so a Slammer-like worm spreads from clone to clone under reflection and reaches nothing outside under any
/// export policy; and no answer is an amplifier for a sender that never proved its address.
/// </summary>
[Collection(ContainerCloneTests.Name)]
[Trait("Category", "Integration")]
public sealed partial class UdpCloneTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly Personality UdpServer = new("udp-server", [23], [7, 53, 123, 161, 1434], "Debian GNU/Linux 12");
    private readonly string _state = Path.Combine(Path.GetTempPath(), "moat-hf-udp-" + Guid.NewGuid().ToString("N")[..8]);
    private string _image = "";

    public async Task InitializeAsync()
    {
        var store = ImageStore.Open(Path.Combine(_state, "images"));
        _image = store.RootfsPath(await store.BuildBusyboxAsync());
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_state, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_container_clone_answers_dns_ntp_and_snmp_with_its_image_s_udp_services()
    {
        await using var farm = await FarmAsync(ExportPolicy.Reflect);
        var clone = IPAddress.Parse("198.18.150.1");
        using var socket = Bound(farm);

        // DNS: an A query with an EDNS option (room for the answer) gets the address it was sent to.
        var query = DnsQuery(0x1234, "www.example.com", edns: true);
        var dns = await ExchangeAsync(socket, clone, 53, query);
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(dns));
        Assert.Equal(0x80, dns[2] & 0x80); // a response
        Assert.Equal(0, dns[2] & 0x02); // not truncated
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(dns.AsSpan(6))); // one answer
        Assert.Equal(clone.GetAddressBytes(), dns[^4..]);

        // NTP: a client request gets a server reply whose origin time is the client's transmit time.
        var ntp = new byte[48];
        ntp[0] = 0x23; // version 4, mode 3 (client)
        "transmit"u8.CopyTo(ntp.AsSpan(40));
        var time = await ExchangeAsync(socket, clone, 123, ntp);
        Assert.Equal(48, time.Length);
        Assert.Equal(4, time[0] & 7);
        Assert.Equal("transmit"u8.ToArray(), time[24..32]);
        var seconds = BinaryPrimitives.ReadUInt32BigEndian(time.AsSpan(40)) - 2_208_988_800L;
        Assert.InRange(seconds, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 60);

        // SNMP: a GetRequest for sysDescr gets a GetResponse.
        var get = Convert.FromHexString("302902010104067075626C6963A01C02040000002A020100020100300E300C06082B060102010101000500");
        var snmp = await ExchangeAsync(socket, clone, 161, get);
        Assert.Equal(get.Length, snmp.Length);
        Assert.Equal(0xA2, snmp[13]);
        Assert.Equal(get[14..], snmp[14..]);
    }

    /// <summary>
    /// Slammer's way: one datagram to port 1434 is a whole worm. Each generation marks its machine and sends itself to
    /// two dark addresses and to the innocent host in the test internet. Under reflection every one of those is a clone
    /// of the attacker's universe; under block and reply-only the worm stays on the first clone. Under no policy does
    /// anything but answers to the attacker leave the farm.
    /// </summary>
    [Theory]
    [InlineData(ExportPolicy.Reflect)]
    [InlineData(ExportPolicy.ReplyOnly)]
    [InlineData(ExportPolicy.Block)]
    public async Task A_udp_worm_spreads_between_clones_under_reflection_and_reaches_nothing_outside_under_any_policy(ExportPolicy policy)
    {
        await using var farm = await FarmAsync(policy, maxClones: 8);
        await using var capture = await Capture.StartAsync(farm.Inet.Name, "eth0", "src net " + FarmTopology.Dark);
        var a = IPAddress.Parse("198.18.160.1");
        var targets = new[] { IPAddress.Parse("198.18.161.1"), IPAddress.Parse("198.18.161.2"), FarmTopology.Victim };
        var worm = $"""
            [ -e /tmp/infected ] && exit 0
            echo infected > /tmp/infected
            for t in {string.Join(' ', targets.Select(t => t.ToString()))}; do printf '%s' "$DATAGRAM" | {ContainerServices.UdpServices} send $t 1434; done
            echo done > /tmp/done
            """;
        using (var socket = Bound(farm))
        {
            await socket.SendToAsync(Encoding.ASCII.GetBytes(worm), new IPEndPoint(a, 1434));
        }

        var infected = policy == ExportPolicy.Reflect ? 1 + targets.Length : 1;
        Assert.True(await FarmTopology.EventuallyAsync(() => Done().Count >= infected, Deadline), $"{Done().Count} clones finished the worm, {infected} expected");

        var universe = Assert.Single(farm.Gateway.Universes());
        if (policy == ExportPolicy.Reflect)
        {
            Assert.All(targets, t => Assert.Contains((a, t), universe.Infections));
            Assert.True(new HashSet<IPAddress>([a, .. targets]).SetEquals(universe.Clones.Select(c => c.Address)), string.Join(", ", universe.Clones.Select(c => c.Address)));
        }
        else
        {
            Assert.Empty(universe.Infections);
        }

        // Closing the universe keeps every infected clone with its mark; the first is marked as having reached out.
        Assert.True(await farm.Gateway.CloseUniverseAsync(universe.Id));
        var kept = farm.Gateway.KeptClones;
        Assert.Equal(infected, kept.Count);
        Assert.All(kept, k => Assert.Contains(k.Files, f => f.Path == "/tmp/infected" && f.Change == "added"));
        var first = Assert.Single(kept, k => k.Describe.Contains("address=198.18.160.1", StringComparison.Ordinal));
        Assert.True(first.AttemptedOutbound);

        // The internet side saw nothing from the farm but what went to the attacker (here: nothing was answered at all).
        var lines = await capture.StopAsync();
        Assert.All(lines, line => Assert.Equal(FarmTopology.Attacker1.ToString(), Destination().Match(line).Groups["dst"].Value));
        Assert.DoesNotContain(lines, l => l.Contains("> " + FarmTopology.Victim + ".", StringComparison.Ordinal));

        List<string> Done() => [.. Directory.GetDirectories(Path.Combine(_state, "farm", "clones")).Where(c => File.Exists(Path.Combine(c, "rootfs", "tmp", "done")))];
    }

    /// <summary>
    /// An amplification scanner (or a spoofed victim) that never completed a TCP handshake sends datagrams from 1 byte
    /// up to every UDP service of a clone, DNS queries without room for their answer among them: it gets back no more
    /// bytes than it sent, and no more than ten answers a second.
    /// </summary>
    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_sender_that_never_proved_its_address_gets_no_more_bytes_than_it_sent_from_any_udp_service()
    {
        await using var farm = await FarmAsync(ExportPolicy.Reflect);
        var clone = IPAddress.Parse("198.18.170.1");
        using var socket = Bound(farm);
        var ntp = new byte[48];
        ntp[0] = 0x23;
        var datagrams = new (int Port, byte[] Data)[]
        {
            (53, DnsQuery(1, "a.example", edns: false)),
            (53, DnsQuery(2, "x", edns: false)),
            (123, ntp),
            (161, Convert.FromHexString("302902010104067075626C6963A01C02040000002A020100020100300E300C06082B060102010101000500")),
            (7, new byte[1]),
            (7, new byte[40]),
        };

        // Each service, one datagram at a time: every answer is at most as long as what it answers (the DNS queries
        // leave no room for an answer record, so theirs come back truncated). The first binds the clone.
        var replies = new List<string>();
        foreach (var (port, data) in datagrams)
        {
            var answer = await ExchangeAsync(socket, clone, port, data);
            replies.Add($"{port}: {data.Length} -> {answer.Length}");
        }

        Assert.True(datagrams.Zip(replies).All(p => int.Parse(p.Second.Split("-> ")[1], System.Globalization.CultureInfo.InvariantCulture) <= p.First.Data.Length), string.Join("; ", replies));

        // A burst from 1 byte up: no more bytes back than sent, and no more than ten answers a second.
        long bytesIn = 0, bytesOut = 0;
        var answers = 0;
        var buffer = new byte[70_000];
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < 200; i++)
        {
            var data = new byte[1 + (i % 40)];
            await socket.SendToAsync(data, new IPEndPoint(clone, 7));
            bytesIn += data.Length;
            while (socket.Available > 0)
            {
                bytesOut += socket.Receive(buffer);
                answers++;
            }
        }

        // Answers still in flight count too: drain until none came for a while (bounded, not a timing claim).
        while (await ReplyWithinAsync(socket, TimeSpan.FromMilliseconds(500)))
        {
            bytesOut += socket.Receive(buffer);
            answers++;
        }

        var elapsed = stopwatch.Elapsed;
        Assert.True(answers > 0, "the clone answered nothing at all");
        Assert.True(bytesOut <= bytesIn, $"{bytesIn} bytes in, {bytesOut} bytes out in {answers} answers: amplification {(double)bytesOut / bytesIn:F2}");
        Assert.True(answers <= (10 * (1 + elapsed.TotalSeconds)) + 1, $"{answers} answers in {elapsed} to one sender");
    }

    [GeneratedRegex(@"> (?<dst>\d+\.\d+\.\d+\.\d+)[.:]")]
    private static partial Regex Destination();

    private Task<FarmTopology> FarmAsync(ExportPolicy export, int maxClones = 4) => FarmTopology.CreateAsync(o => o with
    {
        Export = export,
        WarmClones = 1,
        MaxClones = maxClones,
        IdleTimeout = TimeSpan.FromMinutes(5),
        Personality = UdpServer,
        Containers = new ContainerCloneOptions
        {
            ImageRootfs = _image,
            StateDir = Path.Combine(_state, "farm"),
            InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
            Runtime = "runc",
        },
    });

    private static Socket Bound(FarmTopology farm)
    {
        var socket = NamespaceRunner.Run(farm.Inet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(FarmTopology.Attacker1, 0));
        return socket;
    }

    private static async Task<byte[]> ExchangeAsync(Socket socket, IPAddress address, int port, byte[] request)
    {
        await socket.SendToAsync(request, new IPEndPoint(address, port));
        var buffer = new byte[70_000];
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return buffer[..n];
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no answer within {Deadline.TotalSeconds:0} s to {request.Length} bytes sent to {address}:{port}");
            throw;
        }
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

    /// <summary>A standard query for NAME, type A, class IN; with an EDNS OPT record and a cookie option when asked.</summary>
    private static byte[] DnsQuery(ushort id, string name, bool edns)
    {
        var bytes = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, (byte)(edns ? 1 : 0) };
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }

        bytes.AddRange([0, 0, 1, 0, 1]);
        if (edns)
        {
            bytes.AddRange([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        }

        return [.. bytes];
    }
}
