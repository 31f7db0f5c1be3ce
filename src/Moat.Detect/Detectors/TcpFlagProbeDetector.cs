using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>Counts packets with flag combinations no TCP stack sends (NULL, XMAS, SYN+FIN, SYN+RST): the probes of stealth scans and OS fingerprinting.</summary>
internal sealed class TcpFlagProbeDetector(DetectorOptions options) : IFlowDetector
{
    private readonly BoundedTable<IPAddress, Counter> _sources = new(options.MaxTrackedSources, _ => new Counter());

    public string Name => AlertKinds.TcpFlagProbe;

    internal static bool IsIllegal(TcpFlags flags)
    {
        const TcpFlags xmas = TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Urg;
        return flags == TcpFlags.None
            || (flags & (TcpFlags.Syn | TcpFlags.Fin)) == (TcpFlags.Syn | TcpFlags.Fin)
            || (flags & (TcpFlags.Syn | TcpFlags.Rst)) == (TcpFlags.Syn | TcpFlags.Rst)
            || ((flags & xmas) == xmas && (flags & TcpFlags.Ack) == 0);
    }

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        if (flowEvent.Kind != FlowEventKind.Packet || flowEvent.Protocol != TransportProtocol.Tcp || !IsIllegal(flowEvent.Flags))
        {
            return;
        }

        var counter = _sources.Get(flowEvent.Source);
        counter.Count++;
        if (counter.Count == options.TcpFlagProbeThreshold)
        {
            alerts.Add(new Alert(
                Name,
                flowEvent.Source,
                flowEvent.Destination.ToString(),
                new Dictionary<string, long> { ["probes"] = counter.Count },
                flowEvent.Time,
                $"{flowEvent.Source} sent {counter.Count} TCP packets with impossible flag combinations (last: {flowEvent.Flags}) to {flowEvent.Destination}.")
            { SandboxId = flowEvent.SandboxId });
        }
    }

    private sealed class Counter
    {
        public int Count { get; set; }
    }
}
