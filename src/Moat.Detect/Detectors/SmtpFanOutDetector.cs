using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>A source opening SMTP (port 25) connections to many distinct servers within a window is a mass mailer.</summary>
internal sealed class SmtpFanOutDetector(DetectorOptions options) : IFlowDetector
{
    private const int SmtpPort = 25;
    private readonly BoundedTable<IPAddress, Dictionary<IPAddress, DateTimeOffset>> _sources =
        new(options.MaxTrackedSources, _ => []);
    private readonly Dictionary<IPAddress, DateTimeOffset> _suppressedUntil = [];

    public string Name => AlertKinds.SmtpFanOut;

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        if (flowEvent.Kind != FlowEventKind.Attempt || flowEvent.Protocol != TransportProtocol.Tcp || flowEvent.DestinationPort != SmtpPort)
        {
            return;
        }

        var now = flowEvent.Time;
        if (_suppressedUntil.TryGetValue(flowEvent.Source, out var until) && now < until)
        {
            return;
        }

        var seen = _sources.Get(flowEvent.Source);
        seen[flowEvent.Destination] = now;
        if (seen.Count < options.SmtpFanOutThreshold)
        {
            return;
        }

        var windowStart = now - options.SmtpFanOutWindow;
        foreach (var (destination, last) in seen)
        {
            if (last < windowStart)
            {
                seen.Remove(destination);
            }
        }

        if (seen.Count >= options.SmtpFanOutThreshold)
        {
            alerts.Add(new Alert(
                Name,
                flowEvent.Source,
                $"{seen.Count} SMTP servers",
                new Dictionary<string, long> { ["destinations"] = seen.Count, ["windowSeconds"] = (long)options.SmtpFanOutWindow.TotalSeconds },
                now,
                $"{flowEvent.Source} contacted {seen.Count} distinct SMTP servers within {options.SmtpFanOutWindow.TotalSeconds:0} s.")
            { SandboxId = flowEvent.SandboxId, Port = SmtpPort });
            seen.Clear();
            _suppressedUntil[flowEvent.Source] = now + options.SmtpFanOutWindow;
        }
    }
}
