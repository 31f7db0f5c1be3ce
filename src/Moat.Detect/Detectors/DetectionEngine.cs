using Moat.Detect.Flows;

namespace Moat.Detect.Detectors;

/// <summary>Runs the flow detectors over a stream of flow events (from a capture or from the kernel) and collects their alerts.</summary>
/// <remarks>Not thread-safe: feed it from one loop. Live, use one engine per sandbox (state is keyed by source address).</remarks>
public sealed class DetectionEngine
{
    private readonly List<IFlowDetector> _detectors = [];

    /// <param name="options">Thresholds; <see cref="DetectorOptions.Default"/> when null.</param>
    /// <param name="enabled">Alert kinds to run (see <see cref="AlertKinds"/>); all when null or empty.</param>
    public DetectionEngine(DetectorOptions? options = null, IReadOnlyCollection<string>? enabled = null)
    {
        Options = options ?? DetectorOptions.Default;
        bool On(params string[] kinds) => enabled is null || enabled.Count == 0 || kinds.Any(enabled.Contains);
        if (On(AlertKinds.ThresholdRandomWalk))
        {
            _detectors.Add(new ThresholdRandomWalk(Options));
        }

        if (On(AlertKinds.AddressScan, AlertKinds.PortScan, AlertKinds.RandomScan))
        {
            _detectors.Add(new ZeekScanDetector(Options));
        }

        if (On(AlertKinds.SmtpFanOut))
        {
            _detectors.Add(new SmtpFanOutDetector(Options));
        }

        if (On(AlertKinds.MailVolume))
        {
            _detectors.Add(new MailVolumeDetector(Options));
        }

        if (On(AlertKinds.PacketFlood))
        {
            _detectors.Add(FloodDetector.Packets(Options));
        }

        if (On(AlertKinds.ConnectionFlood))
        {
            _detectors.Add(FloodDetector.Connections(Options));
        }

        if (On(AlertKinds.TcpFlagProbe))
        {
            _detectors.Add(new TcpFlagProbeDetector(Options));
        }

        if (On(AlertKinds.BackdoorPort))
        {
            _detectors.Add(new BackdoorPortDetector(Options));
        }
    }

    public DetectorOptions Options { get; }

    /// <summary>Feeds one event to every detector; alerts are appended to <paramref name="alerts"/>.</summary>
    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        ArgumentNullException.ThrowIfNull(flowEvent);
        ArgumentNullException.ThrowIfNull(alerts);
        foreach (var detector in _detectors)
        {
            detector.Observe(flowEvent, alerts);
        }
    }

    /// <summary>Feeds every event of a live source to the detectors and hands each alert to <paramref name="onAlert"/>, until the source ends or is cancelled.</summary>
    public async Task RunAsync(IAsyncEnumerable<FlowEvent> events, Func<Alert, CancellationToken, Task> onAlert, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(onAlert);
        var alerts = new List<Alert>();
        await foreach (var flowEvent in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            Observe(flowEvent, alerts);
            foreach (var alert in alerts)
            {
                await onAlert(alert, cancellationToken).ConfigureAwait(false);
            }

            alerts.Clear();
        }
    }

    /// <summary>Feeds one event and returns the alerts it raised (an empty list when none).</summary>
    public IReadOnlyList<Alert> Observe(FlowEvent flowEvent)
    {
        var alerts = new List<Alert>();
        Observe(flowEvent, alerts);
        return alerts;
    }
}
