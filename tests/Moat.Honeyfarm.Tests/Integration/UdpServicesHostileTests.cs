using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// The clones' UDP services (native/moat-udp.c) read datagrams from anyone, so they parse hostile bytes: truncated and
/// lying DNS, NTP and SNMP messages, answers posing as questions (which two services would bounce between them for
/// ever), and an echo from a service port. Each gets no answer, and the service still answers a good query after them.
/// Runs the real binary in a namespace of its own, on its loopback.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class UdpServicesHostileTests : IAsyncLifetime
{
    private static readonly byte[] GoodDns = DnsHeader(0x4242, 0x0100, 1, "example.com", type: 1);
    private static readonly byte[] GoodSnmp = Convert.FromHexString("302902010104067075626C6963A01C02040000002A020100020100300E300C06082B060102010101000500");
    private static readonly byte[] GoodSnmpAnswer = [.. GoodSnmp[..13], 0xA2, .. GoodSnmp[14..]];
    private readonly string _name = "hfudp-" + Guid.NewGuid().ToString("N")[..8];
    private NetworkNamespace _ns = null!;
    private Process _service = null!;

    public static TheoryData<int, string, byte[]> Malformed => new()
    {
        { 53, "a 5-byte header", GoodDns[..5] },
        { 53, "a label running past the end", [.. GoodDns[..12], 40, (byte)'a', (byte)'b'] },
        { 53, "a compression pointer in the question", [.. GoodDns[..12], 0xC0, 0x0C, 0, 1, 0, 1] },
        { 53, "two questions", DnsHeader(0x1234, 0x0100, 2, "example.com", type: 1) },
        { 53, "a response (QR set)", DnsHeader(0x1234, 0x8180, 1, "example.com", type: 1) },
        { 53, "an opcode other than query", DnsHeader(0x1234, 0x2800, 1, "example.com", type: 1) },
        { 53, "a question without its class", GoodDns[..27] },
        { 123, "47 bytes", NtpPacket(mode: 3)[..47] },
        { 123, "a server's reply", NtpPacket(mode: 4) },
        { 161, "an outer length past the end", [0x30, 0x7F, .. GoodSnmp[2..]] },
        { 161, "a community length past the end", [.. GoodSnmp[..5], 0x04, 0x70, .. GoodSnmp[7..]] },
        { 161, "a two-byte length field of 0xFFFF", [0x30, 0x82, 0xFF, 0xFF, .. GoodSnmp[2..]] },
        { 161, "a GetResponse", [.. GoodSnmp[..13], 0xA2, .. GoodSnmp[14..20], 0x99, .. GoodSnmp[21..]] },
        { 161, "a trap", [.. GoodSnmp[..13], 0xA4, .. GoodSnmp[14..20], 0x99, .. GoodSnmp[21..]] },
        { 7, "an empty datagram", [] },
    };

    public async Task InitializeAsync()
    {
        _ns = NetworkNamespace.Create(_name);
        using (var netlink = RtNetlink.OpenIn(_ns))
        {
            netlink.SetLinkUp("lo");
        }

        var start = new ProcessStartInfo("ip") { RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", _name, Path.Combine(AppContext.BaseDirectory, "moat-udp"), "serve", "7", "53", "123", "161" })
        {
            start.ArgumentList.Add(a);
        }

        _service = Process.Start(start)!;
        Assert.True(await FarmTopology.EventuallyAsync(() => Bound(_service.Id).IsSupersetOf([7, 53, 123, 161]), TimeSpan.FromSeconds(10)), "moat-udp never bound its ports");
    }

    public Task DisposeAsync()
    {
        if (!_service.HasExited)
        {
            _service.Kill();
        }

        _service.Dispose();
        _ns.Dispose();
        NetworkNamespace.Delete(_name);
        return Task.CompletedTask;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_datagram_gets_no_answer_and_the_service_answers_the_next_good_one(int port, string what, byte[] datagram)
    {
        // Its own source address (127.0.0.0/8 is all loopback), so the per-sender limit never decides the outcome.
        using var socket = Socket(IPAddress.Parse("127.0.0." + (2 + ((uint)what.GetHashCode(StringComparison.Ordinal) % 250))), 0);
        await socket.SendToAsync(datagram, new IPEndPoint(IPAddress.Loopback, port));
        var ntp = NtpPacket(mode: 3);
        "good-one"u8.CopyTo(ntp.AsSpan(40));
        var good = port switch { 53 => GoodDns, 123 => ntp, 161 => GoodSnmp, _ => new byte[] { 42 } };
        await socket.SendToAsync(good, new IPEndPoint(IPAddress.Loopback, port));

        // Answers to one socket come back in the order the service read the datagrams: the first must be the good one's.
        var first = await ReceiveAsync(socket);
        Assert.True(first is not null, $"no answer to a good datagram after {what}; the service {(_service.HasExited ? "died" : "stopped answering")}");
        var isGoodOnes = port switch
        {
            53 => first[0] == 0x42 && first[1] == 0x42,
            123 => first.Length == 48 && first.AsSpan(24, 8).SequenceEqual("good-one"u8),
            161 => first.AsSpan().SequenceEqual(GoodSnmpAnswer),
            _ => first.AsSpan().SequenceEqual(good),
        };
        Assert.True(isGoodOnes, $"the first answer after {what} was not the good datagram's: {Convert.ToHexString(first)}");
        Assert.False(_service.HasExited, $"moat-udp died on {what}");
    }

    [Fact]
    public async Task An_echo_from_a_service_port_is_not_echoed_so_two_services_cannot_bounce_a_datagram()
    {
        using var fromService = Socket(IPAddress.Parse("127.0.0.1"), 19); // chargen's port: a service's, below 1024
        await fromService.SendToAsync(new byte[] { 1, 2, 3 }, new IPEndPoint(IPAddress.Loopback, 7));
        using var fromClient = Socket(IPAddress.Parse("127.0.0.1"), 0);
        await fromClient.SendToAsync(new byte[] { 4 }, new IPEndPoint(IPAddress.Loopback, 7));
        Assert.NotNull(await ReceiveAsync(fromClient)); // the service read both: the second was answered
        Assert.Equal(0, fromService.Available);
    }

    private Socket Socket(IPAddress address, int port)
    {
        var socket = NamespaceRunner.Run(_ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(address, port));
        return socket;
    }

    private static async Task<byte[]?> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[70_000];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return buffer[..n];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static HashSet<int> Bound(int pid)
    {
        try
        {
            return [.. File.ReadLines($"/proc/{pid}/net/udp").Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])
                .Select(a => int.Parse(a.AsSpan(a.IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture))];
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>A DNS message with FLAGS and QDCOUNT questions (only the first written), with an EDNS record so an answer fits.</summary>
    private static byte[] DnsHeader(ushort id, ushort flags, int questions, string name, ushort type)
    {
        var bytes = new List<byte> { (byte)(id >> 8), (byte)id, (byte)(flags >> 8), (byte)flags, 0, (byte)questions, 0, 0, 0, 0, 0, 1 };
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        bytes.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        bytes.AddRange([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        return [.. bytes];
    }

    private static byte[] NtpPacket(int mode)
    {
        var packet = new byte[48];
        packet[0] = (byte)(0x20 | mode);
        return packet;
    }
}
