using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Capture;

/// <summary>The outcome of replaying one capture through flow tracking, the detectors and the containment filter.</summary>
internal sealed record ReplayResult(
    IReadOnlyList<Alert> Alerts,
    long Packets,
    long Undecoded,
    long Passed,
    long Blocked,
    long FlowEvents);

/// <summary>Replays a capture offline: decode, track flows, detect, and optionally write what containment lets through.</summary>
internal static class CaptureReplay
{
    internal static ReplayResult Run(
        ReadOnlyMemory<byte> file,
        DetectionEngine engine,
        bool containment = true,
        PcapWriter? passed = null,
        FlowTrackerOptions? trackerOptions = null,
        bool zeroTimestamps = false)
    {
        var tracker = new FlowTracker(trackerOptions);
        var filter = containment ? new ScanContainment(engine.Options) : null;
        var events = new List<FlowEvent>();
        var alerts = new List<Alert>();
        long packets = 0, undecoded = 0, passCount = 0, blocked = 0, eventCount = 0;
        foreach (var record in CaptureReader.Read(file))
        {
            packets++;
            var decoded = PacketDecoder.Decode(record.LinkType, record.Data.Span);
            var verdict = ContainmentVerdict.Pass;
            if (decoded is null)
            {
                undecoded++;
            }
            else
            {
                if (filter is not null)
                {
                    verdict = filter.Decide(record.Timestamp, decoded, alerts);
                }

                tracker.Process(record.Timestamp, decoded, events);
                eventCount += events.Count;
                foreach (var e in events)
                {
                    engine.Observe(e, alerts);
                }

                events.Clear();
            }

            if (verdict == ContainmentVerdict.Pass)
            {
                passCount++;
                passed?.Write(zeroTimestamps ? DateTimeOffset.UnixEpoch : record.Timestamp, record.Data.Span, record.OriginalLength);
            }
            else
            {
                blocked++;
            }
        }

        tracker.Flush(events);
        eventCount += events.Count;
        foreach (var e in events)
        {
            engine.Observe(e, alerts);
        }

        return new ReplayResult(alerts, packets, undecoded, passCount, blocked, eventCount);
    }
}
