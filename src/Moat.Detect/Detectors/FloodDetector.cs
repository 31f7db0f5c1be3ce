using System.Net;
using Moat.Detect.Flows;

namespace Moat.Detect.Detectors;

/// <summary>Rate per source and destination in fixed windows: packets (packet flood) or connection attempts (connection flood).</summary>
internal sealed class FloodDetector : IFlowDetector
{
    private readonly FlowEventKind _counted;
    private readonly int _threshold;
    private readonly TimeSpan _window;
    private readonly BoundedTable<(IPAddress, IPAddress), Counter> _pairs;

    private FloodDetector(string name, FlowEventKind counted, int threshold, TimeSpan window, int capacity)
    {
        Name = name;
        _counted = counted;
        _threshold = threshold;
        _window = window;
        _pairs = new(capacity, _ => new Counter());
    }

    public string Name { get; }

    internal static FloodDetector Packets(DetectorOptions o) =>
        new(AlertKinds.PacketFlood, FlowEventKind.Packet, o.PacketFloodThreshold, o.PacketFloodWindow, o.MaxTrackedSources);

    internal static FloodDetector Connections(DetectorOptions o) =>
        new(AlertKinds.ConnectionFlood, FlowEventKind.Attempt, o.ConnectionFloodThreshold, o.ConnectionFloodWindow, o.MaxTrackedSources);

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        if (flowEvent.Kind != _counted || flowEvent.IsReply)
        {
            return;
        }

        // A FIN, ACK, NULL or protocol probe asks for no connection: a scan of them is a scan (named by the scan
        // detectors), not a connection flood.
        if (_counted == FlowEventKind.Attempt && flowEvent.Probe is not (ScanProbe.None or ScanProbe.Syn or ScanProbe.Udp))
        {
            return;
        }

        var counter = _pairs.Get((flowEvent.Source, flowEvent.Destination));
        var now = flowEvent.Time;
        if (now - counter.WindowStart >= _window || now < counter.WindowStart)
        {
            counter.WindowStart = now;
            counter.Count = 0;
            counter.Alerted = false;
        }

        counter.Count++;
        if (counter.Count >= _threshold && !counter.Alerted)
        {
            counter.Alerted = true;
            string unit = _counted == FlowEventKind.Packet ? "packets" : "connection attempts";
            alerts.Add(new Alert(
                Name,
                flowEvent.Source,
                flowEvent.Destination.ToString(),
                new Dictionary<string, long> { [_counted == FlowEventKind.Packet ? "packets" : "attempts"] = counter.Count, ["windowMilliseconds"] = (long)_window.TotalMilliseconds },
                now,
                $"{flowEvent.Source} sent {counter.Count} {unit} to {flowEvent.Destination} within {_window.TotalSeconds:0.###} s.")
            { SandboxId = flowEvent.SandboxId });
        }
    }

    private sealed class Counter
    {
        public DateTimeOffset WindowStart { get; set; } = DateTimeOffset.MinValue;

        public int Count { get; set; }

        public bool Alerted { get; set; }
    }
}
