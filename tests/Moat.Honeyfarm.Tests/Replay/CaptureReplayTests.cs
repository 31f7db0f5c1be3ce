using System.Buffers.Binary;
using System.Net;
using Moat.Detect.Tests.Conformance;
using Moat.Honeyfarm.Gateway;
using Moat.Honeyfarm.Lab;
using Moat.Honeyfarm.Replay;

namespace Moat.Honeyfarm.Tests.Replay;

/// <summary>
/// Captures replayed into a live farm (the lab's test internet and gateway, 198.18.0.0/15 only): a real vertical scan
/// binds one clone; a horizontal sweep over 40 addresses binds one too, the rest held back by the scan filter.
/// </summary>
[Trait("Category", "Integration")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CaptureReplayTests
{
    [Fact]
    public async Task A_real_port_scan_capture_binds_one_clone_for_its_one_target()
    {
        await using var lab = await FarmLab.StartAsync();
        var plan = CaptureReplay.Plan(ConformanceData.Path("traffic-scans", "ppa1e_portscan.pcap"), FarmLab.Dark, [FarmLab.Source(0)]);
        Assert.Equal((1, 1), (plan.Sources, plan.Destinations));
        Assert.NotEmpty(plan.Packets);
        AssertOnlyLabAddresses(plan, FarmLab.Source(0));

        var sent = CaptureReplay.Send(lab.Internet, plan);
        Assert.Equal(plan.Packets.Count, sent);
        var c = await UntilDecidedAsync(lab, sent, plan.Destinations);
        Assert.Equal(1, c.ClonesBound);
        Assert.Equal(0, c.ScanFiltered);
    }

    [Fact]
    public async Task A_horizontal_sweep_binds_one_clone_and_the_scan_filter_holds_back_the_rest()
    {
        var file = Path.Combine(Path.GetTempPath(), $"moat-sweep-{Guid.NewGuid():N}.pcap");
        try
        {
            await File.WriteAllBytesAsync(file, Sweep(IPAddress.Parse("203.0.113.7"), 40, port: 23));
            await using var lab = await FarmLab.StartAsync();
            var plan = CaptureReplay.Plan(file, FarmLab.Dark, [FarmLab.Source(1)]);
            Assert.Equal((1, 40), (plan.Sources, plan.Destinations));

            // The capture's own addresses (203.0.113.7 → 192.0.2.x) are never sent: every packet is rewritten into the lab.
            AssertOnlyLabAddresses(plan, FarmLab.Source(1));

            var c = await UntilDecidedAsync(lab, CaptureReplay.Send(lab.Internet, plan), plan.Destinations);
            Assert.Equal(1, c.ClonesBound);
            Assert.Equal(39, c.ScanFiltered);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_file_that_is_not_a_capture_is_refused_in_one_sentence()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "not a capture");
            var e = Assert.Throws<HoneyfarmException>(() => CaptureReplay.Plan(file, FarmLab.Dark, [FarmLab.Source(0)]));
            Assert.Contains(file, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void AssertOnlyLabAddresses(ReplayPlan plan, IPAddress attacker) =>
        Assert.All(plan.Packets, p =>
        {
            Assert.Equal(attacker, new IPAddress(p.AsSpan(12, 4)));
            Assert.True(FarmLab.Dark.Contains(new IPAddress(p.AsSpan(16, 4))));
        });

    /// <summary>Waits until the gateway has read every packet sent and decided every address the capture touched
    /// (a clone bound to it, or its first packet held back by the scan filter), then returns its counters.</summary>
    private static async Task<HoneyfarmCounters> UntilDecidedAsync(FarmLab lab, int sent, int addresses)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HoneyfarmCounters c;
        while ((c = lab.Gateway.Counters).PacketsIn < sent || c.ClonesBound + c.ScanFiltered < addresses)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the gateway read {c.PacketsIn} of {sent} packets, bound {c.ClonesBound} clones, filtered {c.ScanFiltered}, of {addresses} addresses");
            await Task.Delay(20);
        }

        return c;
    }

    /// <summary>A pcap (raw IPv4) of TCP SYNs from one scanner to <paramref name="count"/> addresses on one port.</summary>
    private static byte[] Sweep(IPAddress scanner, int count, ushort port)
    {
        using var stream = new MemoryStream();
        var header = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), 101); // LINKTYPE_RAW
        stream.Write(header);
        for (var i = 0; i < count; i++)
        {
            var ip = new byte[40];
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), 40);
            ip[8] = 64;
            ip[9] = 6;
            scanner.GetAddressBytes().CopyTo(ip, 12);
            new byte[] { 192, 0, 2, (byte)(i + 1) }.CopyTo(ip, 16);
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(20), 40000);
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(22), port);
            ip[32] = 0x50;
            ip[33] = 0x02; // SYN
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(34), 1024);
            var record = new byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(0), (uint)(1_764_000_000 + i));
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), 40);
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12), 40);
            stream.Write(record);
            stream.Write(ip);
        }

        return stream.ToArray();
    }
}
