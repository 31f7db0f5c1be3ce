using System.Globalization;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Bench;

/// <summary>
/// Detection latency per scan class, on the captures made with the real tools (tests/Moat.Detect.Tests/Captures):
/// contacts the scanner opened and capture seconds from its first contact until the first alert, default thresholds.
/// </summary>
internal static class ScanClassLatency
{
    internal static void Run(string captures)
    {
        Console.WriteLine("## Detection latency per scan class (tool captures, default thresholds, capture time)");
        Console.WriteLine();
        Console.WriteLine("| capture | first alert | technique | contacts opened before it | seconds from the first contact |");
        Console.WriteLine("|---|---|---|---:|---:|");
        foreach (var file in Directory.EnumerateFiles(captures, "*.pcap").Order(StringComparer.Ordinal))
        {
            var engine = new DetectionEngine();
            var tracker = new FlowTracker();
            var events = new List<FlowEvent>();
            var alerts = new List<Alert>();
            long contacts = 0;
            DateTimeOffset? first = null;
            Alert? alert = null;
            foreach (var record in CaptureReader.Read(File.ReadAllBytes(file)))
            {
                if (PacketDecoder.Decode(record.LinkType, record.Data.Span) is not { } packet)
                {
                    continue;
                }

                tracker.Process(record.Timestamp, packet, events);
                alert ??= Feed(engine, events, alerts, ref contacts, ref first);
                events.Clear();
            }

            tracker.Flush(events);
            alert ??= Feed(engine, events, alerts, ref contacts, ref first);
            string seconds = alert is null || first is null ? "—" : (alert.Time - first.Value).TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
            Console.WriteLine($"| {Path.GetFileName(file)} | {alert?.Detector ?? "none"} | {alert?.Technique ?? "—"} | {(alert is null ? "—" : contacts.ToString(CultureInfo.InvariantCulture))} | {seconds} |");
        }

        Console.WriteLine();
    }

    private static Alert? Feed(DetectionEngine engine, List<FlowEvent> events, List<Alert> alerts, ref long contacts, ref DateTimeOffset? first)
    {
        foreach (var e in events)
        {
            if (e.Kind == FlowEventKind.Attempt)
            {
                contacts++;
                first ??= e.Time;
            }

            engine.Observe(e, alerts);
            if (alerts.Count > 0)
            {
                return alerts[0];
            }
        }

        return null;
    }
}
