using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Moat.Honeyfarm.Gateway;
using Moat.Honeyfarm.Lab;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// The farm under a spoofed flood: the scan filter's insert cost at a million keys, and a SYN flood from ~98,000
/// distinct spoofed sources of 198.18.0.0/15 (outside the dark range) into a lab farm: how long the sender took (the
/// gateway's kernel walks its policy rules for every packet, so this shows the rules' cost), what the gateway kept, and
/// how long a real contact then waits for its greeting.
/// </summary>
internal static class SpoofedFlood
{
    public static async Task RunAsync(int sources)
    {
        Console.WriteLine();
        Console.WriteLine("## spoofed floods");
        Console.WriteLine();
        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---|");
        foreach (var keys in new[] { 100_000, 1_000_000, 4_000_000 })
        {
            var filter = new ScanFilter(TimeSpan.FromMinutes(1), TimeProvider.System);
            var stopwatch = Stopwatch.StartNew();
            for (uint k = 0; k < keys; k++)
            {
                filter.TryAdmit(k, 22, 6);
            }

            var elapsed = stopwatch.Elapsed;
            Console.WriteLine($"| scan filter, {keys:N0} distinct keys in one interval: ns per insert / keys held / forgotten | {elapsed.TotalNanoseconds / keys:F0} / {filter.Count:N0} / {filter.Forgotten:N0} |");
        }

        await using var lab = await FarmLab.StartAsync(o => o with { MaxClones = 16, WarmClones = 2, ScanFilterInterval = TimeSpan.Zero });
        var before = lab.Gateway.Counters;
        var send = Stopwatch.StartNew();
        var sent = Send(lab.Internet, sources);
        var sendTime = send.Elapsed;
        var contact = Stopwatch.StartNew();
        var served = await GreetAsync(lab.Internet, FarmLab.Source(1), IPAddress.Parse("198.18.150.1"), TimeSpan.FromSeconds(30));
        var contactTime = contact.Elapsed;
        var after = lab.Gateway.Counters;
        int rules;
        using (var rtnl = RtNetlink.OpenIn(lab.GatewayNamespace))
        {
            rules = rtnl.ListRules().Count;
        }

        Console.WriteLine($"| SYN flood: spoofed sources sent / seconds to send | {sent:N0} / {sendTime.TotalSeconds:F2} |");
        Console.WriteLine($"| gateway: first packets seen / sources refused (rate) / sources kept / evicted | {after.PacketsIn - before.PacketsIn:N0} / {after.SourcesRefused:N0} / {after.Sources:N0} / {after.SourcesEvicted:N0} |");
        Console.WriteLine($"| gateway: policy rules in the kernel / universes / live clones / dropped full | {rules:N0} / {after.Universes} / {after.LiveClones} / {after.DroppedFull:N0} |");
        Console.WriteLine($"| a real new contact right after the flood: greeting after (s) | {(served ? contactTime.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) : "never (30 s)")} |");
    }

    private static async Task<bool> GreetAsync(NetworkNamespace ns, IPAddress from, IPAddress to, TimeSpan deadline)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.Bind(new IPEndPoint(from, 0));
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(to, 22), timeout.Token);
            return await socket.ReceiveAsync(new byte[256], SocketFlags.None, timeout.Token) > 0;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return false;
        }
    }

    private static int Send(NetworkNamespace ns, int count) => NamespaceRunner.Run(ns, () =>
    {
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
        var packet = new byte[40];
        var dark = BinaryPrimitives.ReadUInt32BigEndian(FarmLab.Dark.BaseAddress.GetAddressBytes());
        var sent = 0;
        var i = 0;
        for (uint n = 0; sent < count && n < (1u << 17); n++)
        {
            // 198.19.0.0/16, then 198.18.0.0/17 but the lab's internet 198.18.96.0/24.
            var source = n < 65_536 ? 0xC6130000u | n : 0xC6120000u | (n - 65_536);
            if ((source & 0xFFFFFF00u) == 0xC6126000u)
            {
                continue;
            }

            Syn(packet, source, dark | (uint)(1 + (i++ % 30_000)), (ushort)(1024 + (n % 60_000)));
            try
            {
                raw.SendTo(packet, new IPEndPoint(new IPAddress(packet.AsSpan(16, 4)), 0));
                sent++;
            }
            catch (SocketException)
            {
                // ENOBUFS: the sender outran its own queue; not counted.
            }
        }

        return sent;
    });

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
