using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>
/// Threshold random walk (Jung, Paxson, Berger, Balakrishnan, "Fast Portscan Detection", 2004): a sequential
/// hypothesis test over the outcomes of a source's first contacts with new destinations. Each success multiplies the
/// likelihood ratio by θ1/θ0, each failure by (1−θ1)/(1−θ0); reaching η1 = P_D/P_F flags a scanner, falling to
/// η0 = (1−P_D)/(1−P_F) accepts the host as benign and restarts the walk so a later scan is still caught.
/// </summary>
internal sealed class ThresholdRandomWalk : IFlowDetector
{
    private readonly DetectorOptions _options;
    private readonly double _successStep;
    private readonly double _failureStep;
    private readonly double _upper;
    private readonly double _lower;
    private readonly BoundedTable<IPAddress, SourceState> _sources;

    internal ThresholdRandomWalk(DetectorOptions options)
    {
        _options = options;
        _successStep = Math.Log(options.TrwTheta1 / options.TrwTheta0);
        _failureStep = Math.Log((1 - options.TrwTheta1) / (1 - options.TrwTheta0));
        _upper = Math.Log(UpperThreshold(options));
        _lower = Math.Log(LowerThreshold(options));
        _sources = new(options.MaxTrackedSources, _ => new SourceState());
    }

    public string Name => AlertKinds.ThresholdRandomWalk;

    internal static double UpperThreshold(DetectorOptions o) => o.TrwDetectionProbability / o.TrwFalsePositiveProbability;

    internal static double LowerThreshold(DetectorOptions o) => (1 - o.TrwDetectionProbability) / (1 - o.TrwFalsePositiveProbability);

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        // TCP, UDP and other IP protocols: a probe that opens no connection is a contact like a SYN (Zeek counts a
        // UDP probe with no answer, or an ICMP unreachable, as a failure too).
        if (flowEvent.Protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp or TransportProtocol.Other))
        {
            return;
        }

        switch (flowEvent.Kind)
        {
            case FlowEventKind.Attempt:
                var state = _sources.Get(flowEvent.Source);
                if (state.Contacted.Add(flowEvent.Destination))
                {
                    if (state.Contacted.Count > _options.TrwMaxContactsPerSource)
                    {
                        state.Contacted.Clear();
                    }

                    // Outcomes that never arrive (lost kernel events) must not grow the table without bound.
                    if (state.Pending.Count >= _options.TrwMaxContactsPerSource)
                    {
                        state.Pending.Clear();
                    }

                    state.Pending.Add(PendingKey(flowEvent));
                }

                break;
            case FlowEventKind.Established:
                Outcome(flowEvent, success: true, alerts);
                break;
            case FlowEventKind.Refused or FlowEventKind.TimedOut:
                Outcome(flowEvent, success: false, alerts);
                break;
            default:
                break;
        }
    }

    private void Outcome(FlowEvent flowEvent, bool success, List<Alert> alerts)
    {
        if (!_sources.TryGet(flowEvent.Source, out var state) || !state.Pending.Remove(PendingKey(flowEvent)))
        {
            return; // Not a first contact: TRW only weighs the first connection to each destination.
        }

        if (success)
        {
            state.Successes++;
        }
        else
        {
            state.Failures++;
        }

        if (state.Flagged)
        {
            return;
        }

        state.LogRatio += success ? _successStep : _failureStep;
        if (state.LogRatio >= _upper)
        {
            state.Flagged = true;
            string? technique = ScanProbes.Technique(flowEvent.Probe);
            alerts.Add(new Alert(
                Name,
                flowEvent.Source,
                $"{state.Contacted.Count} first-contact destinations",
                new Dictionary<string, long> { ["failures"] = state.Failures, ["successes"] = state.Successes },
                flowEvent.Time,
                $"{flowEvent.Source} failed {state.Failures} of {state.Failures + state.Successes} first contacts; the random walk crossed η1 = {UpperThreshold(_options):0.##}"
                + (technique is null ? "." : $" (last probe: {technique})."))
            { SandboxId = flowEvent.SandboxId, Technique = flowEvent.Probe == ScanProbe.None ? null : ScanProbes.Name(flowEvent.Probe) });
        }
        else if (state.LogRatio <= _lower)
        {
            state.LogRatio = 0;
        }
    }

    private static (IPAddress, TransportProtocol, byte, int, int) PendingKey(FlowEvent e) => (e.Destination, e.Protocol, e.IpProtocol, e.SourcePort, e.DestinationPort);

    private sealed class SourceState
    {
        public HashSet<IPAddress> Contacted { get; } = [];

        public HashSet<(IPAddress, TransportProtocol, byte, int, int)> Pending { get; } = [];

        public double LogRatio { get; set; }

        public long Failures { get; set; }

        public long Successes { get; set; }

        public bool Flagged { get; set; }
    }
}
