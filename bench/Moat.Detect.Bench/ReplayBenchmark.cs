using System.Diagnostics;
using System.Globalization;
using System.Net;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Packets;

namespace Moat.Detect.Bench;

/// <summary>Macro benchmark: replay throughput on a large in-memory capture, and probes a scanner gets out before each detector fires.</summary>
internal static class ReplayBenchmark
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    internal static int Run(string[] args)
    {
        string conformance = args.Length > 0 ? args[0] : FindConformance();
        int repeat = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        var big = Concatenate(
            [Path.Combine(conformance, "traffic-scans", "synscan.pcapng"), Path.Combine(conformance, "traffic-benign", "http_espn.pcapng")],
            repeat);
        string tempFile = Path.Combine(Path.GetTempPath(), $"mtd-bench-{Environment.ProcessId}.pcap");
        File.WriteAllBytes(tempFile, big.Bytes);
        try
        {
            Console.WriteLine($"## Replay throughput ({big.Packets:N0} packets, {big.Bytes.Length / 1e6:0.0} MB in memory: synscan.pcapng + http_espn.pcapng x {repeat}, timestamps shifted)");
            Console.WriteLine();
            Console.WriteLine("| stage | packets/s (median of 5) | MB/s |");
            Console.WriteLine("|---|---:|---:|");
            Row("read records (pcap reader only)", big, () => CaptureReader.Read(big.Bytes).Count());
            Row("read + decode", big, () =>
            {
                long n = 0;
                foreach (var p in CaptureReader.Read(big.Bytes))
                {
                    n += PacketDecoder.Decode(p.LinkType, p.Data.Span) is null ? 0 : 1;
                }

                return n;
            });
            Row("full replay: decode + flows + all detectors + containment", big, () => CaptureReplay.Run(big.Bytes, new DetectionEngine()).Packets);
            var tcpdump = MeasureTcpdump(tempFile);
            Console.WriteLine(tcpdump is { } t
                ? $"| peer: `tcpdump -nn -r FILE > /dev/null` (decode + print), same file, same run | {big.Packets / t:N0} | {big.Bytes.Length / 1e6 / t:N0} |"
                : "| peer: tcpdump not available | - | - |");
        }
        finally
        {
            File.Delete(tempFile);
        }

        Console.WriteLine();
        ProbesBeforeStop();
        return 0;
    }

    private static void Row(string name, Capture big, Func<long> work)
    {
        work();
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            work();
            times.Add(sw.Elapsed.TotalSeconds);
        }

        double median = times.Order().ElementAt(2);
        Console.WriteLine($"| {name} | {big.Packets / median:N0} | {big.Bytes.Length / 1e6 / median:N0} |");
    }

    private static double? MeasureTcpdump(string file)
    {
        var times = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            try
            {
                var start = new ProcessStartInfo("tcpdump", ["-nn", "-r", file]) { RedirectStandardOutput = true, RedirectStandardError = true };
                var sw = Stopwatch.StartNew();
                using var process = Process.Start(start)!;
                process.StandardOutput.BaseStream.CopyTo(Stream.Null);
                process.WaitForExit();
                times.Add(sw.Elapsed.TotalSeconds);
                if (process.ExitCode != 0)
                {
                    return null;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }

        return times.Order().ElementAt(1);
    }

    private static void ProbesBeforeStop()
    {
        const double rate = 100; // probes per second
        Console.WriteLine($"## Probes a scanner sends before each detector fires (synthetic SYN scan, {rate:0} probes/s, no answers, default thresholds)");
        Console.WriteLine();
        Console.WriteLine("| detector | scan shape | probes sent before the alert | floor (from the threshold) |");
        Console.WriteLine("|---|---|---:|---|");
        var addressScan = Scan(2000, rate, i => (HostAt(i), 445));
        var portScan = Scan(2000, rate, i => (IPAddress.Parse("198.18.7.7"), 1 + i));
        var options = DetectorOptions.Default;
        ProbeRow("trw", "new host each probe", addressScan, AlertKinds.ThresholdRandomWalk, $"4 failures (4^4 >= 99), known after the 5 s attempt timeout: 4 + 5 s x {rate:0}/s");
        ProbeRow("scan-containment", "new host each probe", addressScan, AlertKinds.ScanContainment, $"T = {options.ContainmentThreshold} (blocked from the next probe on, no timeout needed)");
        ProbeRow("address-scan", "one port, new host each probe", addressScan, AlertKinds.AddressScan, $"knock-knock {options.KnockKnockThreshold} hosts, + 5 s attempt timeout");
        ProbeRow("port-scan", "one host, new port each probe", portScan, AlertKinds.PortScan, $"{options.ScanThreshold} ports, + 5 s attempt timeout");
        ProbeRow("connection-flood", "one host, new port each probe", portScan, AlertKinds.ConnectionFlood, $"{options.ConnectionFloodThreshold} attempts in {options.ConnectionFloodWindow.TotalSeconds:0} s");
        var smtp = Scan(500, rate, i => (HostAt(i), 25));
        ProbeRow("smtp-fanout", "port 25, new host each probe", smtp, AlertKinds.SmtpFanOut, $"{options.SmtpFanOutThreshold} servers in {options.SmtpFanOutWindow.TotalSeconds:0} s");
        var refusedAddressScan = Scan(2000, rate, i => (HostAt(i), 445), refuse: true);
        var refusedPortScan = Scan(2000, rate, i => (IPAddress.Parse("198.18.7.7"), 1 + i), refuse: true);
        ProbeRow("trw", "new host each probe, each refused by RST", refusedAddressScan, AlertKinds.ThresholdRandomWalk, "4 (4 failed first contacts, no waiting)");
        ProbeRow("address-scan", "one port, new host each probe, each refused by RST", refusedAddressScan, AlertKinds.AddressScan, $"{options.KnockKnockThreshold} (knock-knock)");
        ProbeRow("port-scan", "one host, new port each probe, each refused by RST", refusedPortScan, AlertKinds.PortScan, $"{options.ScanThreshold}");
        ProbeRow("trw", "one host, new port each probe", portScan, AlertKinds.ThresholdRandomWalk, "never: one host is one first contact (by design of the paper)");
        ProbeRow("scan-containment", "one host, new port each probe", portScan, AlertKinds.ScanContainment, "never: counts first contacts per address (by design of the paper)");
    }

    private static void ProbeRow(string name, string shape, (byte[] Bytes, DateTimeOffset[] Times) scan, string kind, string floor)
    {
        var result = CaptureReplay.Run(scan.Bytes, new DetectionEngine(DetectorOptions.Default, [kind]), containment: kind == AlertKinds.ScanContainment);
        var alert = result.Alerts.FirstOrDefault(a => a.Detector == kind);
        string probes = alert is null ? "no alert" : (kind == AlertKinds.ScanContainment
            ? result.Passed.ToString(CultureInfo.InvariantCulture) + " passed, rest blocked"
            : scan.Times.Count(t => t <= alert.Time).ToString(CultureInfo.InvariantCulture));
        Console.WriteLine($"| {name} | {shape} | {probes} | {floor} |");
    }

    private static IPAddress HostAt(int i) => new([198, 18, (byte)(i / 250), (byte)(1 + (i % 250))]);

    private static (byte[] Bytes, DateTimeOffset[] Times) Scan(int count, double rate, Func<int, (IPAddress Host, int Port)> target, bool refuse = false)
    {
        using var stream = new MemoryStream();
        var times = new DateTimeOffset[count];
        using (var writer = new PcapWriter(stream, LinkType.Raw))
        {
            for (int i = 0; i < count; i++)
            {
                var (host, port) = target(i);
                times[i] = T0.AddSeconds(i / rate);
                var scanner = IPAddress.Parse("198.19.252.66");
                writer.Write(times[i], Segment(scanner, 40000 + (i % 20000), host, port, TcpFlags.Syn), 40);
                if (refuse)
                {
                    writer.Write(times[i].AddMilliseconds(1), Segment(host, port, scanner, 40000 + (i % 20000), TcpFlags.Rst | TcpFlags.Ack), 40);
                }
            }
        }

        return (stream.ToArray(), times);
    }

    private static byte[] Segment(IPAddress source, int sourcePort, IPAddress destination, int port, TcpFlags flags)
    {
        var p = new byte[40];
        p[0] = 0x45;
        p[3] = 40;
        p[8] = 64;
        p[9] = 6;
        source.GetAddressBytes().CopyTo(p, 12);
        destination.GetAddressBytes().CopyTo(p, 16);
        p[20] = (byte)(sourcePort >> 8);
        p[21] = (byte)sourcePort;
        p[22] = (byte)(port >> 8);
        p[23] = (byte)port;
        p[32] = 0x50;
        p[33] = (byte)flags;
        p[35] = 0xFF;
        return p;
    }

    private static Capture Concatenate(string[] files, int repeat)
    {
        var records = files.SelectMany(f => CaptureReader.Read(File.ReadAllBytes(f))).ToList();
        var first = records.Min(r => r.Timestamp);
        var span = records.Max(r => r.Timestamp) - first + TimeSpan.FromSeconds(1);
        using var stream = new MemoryStream();
        long packets = 0;
        using (var writer = new PcapWriter(stream, LinkType.Ethernet))
        {
            for (int i = 0; i < repeat; i++)
            {
                var shift = span * i;
                foreach (var r in records.OrderBy(r => r.Timestamp))
                {
                    writer.Write(r.Timestamp + shift, r.Data.Span, r.OriginalLength);
                    packets++;
                }
            }
        }

        return new Capture(stream.ToArray(), packets);
    }

    private static string FindConformance()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Moat.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "conformance"));
            }
        }

        throw new InvalidOperationException("Run from inside the repository, or pass the conformance folder as the first argument.");
    }

    private sealed record Capture(byte[] Bytes, long Packets);
}
