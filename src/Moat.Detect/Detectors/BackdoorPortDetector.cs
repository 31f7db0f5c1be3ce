using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>Reports TCP data exchanged on a well-known worm back-door port (Blaster's shell on 4444, Back Orifice on 31337...).</summary>
internal sealed class BackdoorPortDetector(DetectorOptions options) : IFlowDetector
{
    private readonly HashSet<int> _ports = [.. options.BackdoorPorts];
    private readonly BoundedTable<(IPAddress, IPAddress, int), bool> _reported = new(options.MaxTrackedSources, _ => false);

    public string Name => AlertKinds.BackdoorPort;

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        if (flowEvent.Kind != FlowEventKind.Packet || flowEvent.Protocol != TransportProtocol.Tcp || flowEvent.Bytes == 0)
        {
            return;
        }

        bool toPort = _ports.Contains(flowEvent.DestinationPort);
        bool fromPort = _ports.Contains(flowEvent.SourcePort);
        if (toPort == fromPort)
        {
            return; // Neither end, or both ends, on a listed port: no telling which side is the back door.
        }

        // The client is the side not on the back-door port; the alert is about it.
        var (client, server, port) = toPort
            ? (flowEvent.Source, flowEvent.Destination, flowEvent.DestinationPort)
            : (flowEvent.Destination, flowEvent.Source, flowEvent.SourcePort);
        var key = (client, server, port);
        if (_reported.TryGet(key, out _))
        {
            return;
        }

        _reported.Get(key);
        alerts.Add(new Alert(
            Name,
            client,
            $"{server} port {port}/tcp",
            new Dictionary<string, long> { ["bytes"] = flowEvent.Bytes },
            flowEvent.Time,
            $"{client} exchanged data with {server} on back-door port {port}/tcp.")
        { SandboxId = flowEvent.SandboxId, Port = port });
    }
}
