using System.Globalization;
using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>
/// Mail abuse by volume: per source and fixed window, connections and bytes to the mail ports (25, 465, 587), which
/// the host sees live, and, where the payload is in view (captures, NFLOG with a snapshot length), messages and RCPT
/// commands. Crossing any threshold raises one alert per window naming every count. A source that sends many messages
/// to many recipients through one or two servers is what the fan-out detector cannot see.
/// </summary>
internal sealed class MailVolumeDetector(DetectorOptions options) : IFlowDetector
{
    private readonly BoundedTable<IPAddress, Counts> _sources = new(options.MaxTrackedSources, _ => new Counts());

    public string Name => AlertKinds.MailVolume;

    internal static bool IsMailPort(int port) => port is 25 or 465 or 587;

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        if (flowEvent.Protocol != TransportProtocol.Tcp || flowEvent.IsReply || !IsMailPort(flowEvent.DestinationPort))
        {
            return;
        }

        long connections = 0, bytes = 0, messages = 0, recipients = 0;
        switch (flowEvent.Kind)
        {
            case FlowEventKind.Attempt:
                connections = 1;
                break;
            case FlowEventKind.Packet:
                bytes = flowEvent.Bytes;
                messages = flowEvent.SmtpMessages;
                recipients = flowEvent.SmtpRecipients;
                break;
            case FlowEventKind.Closed when flowEvent.IpProtocol == 0:
                // Conntrack's flow total (no packet events come from conntrack); packet sources count their payload above.
                bytes = flowEvent.Bytes;
                break;
            default:
                return;
        }

        var c = _sources.Get(flowEvent.Source);
        var now = flowEvent.Time;
        if (now - c.WindowStart >= options.MailVolumeWindow || now < c.WindowStart)
        {
            c.WindowStart = now;
            c.Connections = c.Bytes = c.Messages = c.Recipients = 0;
            c.Alerted = false;
        }

        c.Connections += connections;
        c.Bytes += bytes;
        c.Messages += messages;
        c.Recipients += recipients;
        if (c.Alerted)
        {
            return;
        }

        string? crossed = c.Connections >= options.MailConnectionThreshold ? "connections"
            : c.Bytes >= options.MailByteThreshold ? "bytes"
            : c.Messages >= options.MailMessageThreshold ? "messages"
            : c.Recipients >= options.MailRecipientThreshold ? "recipients"
            : null;
        if (crossed is null)
        {
            return;
        }

        c.Alerted = true;
        long seconds = (long)options.MailVolumeWindow.TotalSeconds;
        alerts.Add(new Alert(
            Name,
            flowEvent.Source,
            $"mail port {flowEvent.DestinationPort}/tcp",
            new Dictionary<string, long>
            {
                ["connections"] = c.Connections,
                ["bytes"] = c.Bytes,
                ["messages"] = c.Messages,
                ["recipients"] = c.Recipients,
                ["windowSeconds"] = seconds,
            },
            now,
            string.Create(CultureInfo.InvariantCulture, $"{flowEvent.Source} sent mail by volume within {seconds} s ({crossed} over the threshold): {c.Connections} connections, {c.Bytes} bytes, {c.Messages} messages, {c.Recipients} recipients to mail ports."))
        { SandboxId = flowEvent.SandboxId, Port = flowEvent.DestinationPort });
    }

    private sealed class Counts
    {
        public DateTimeOffset WindowStart { get; set; } = DateTimeOffset.MinValue;

        public long Connections { get; set; }

        public long Bytes { get; set; }

        public long Messages { get; set; }

        public long Recipients { get; set; }

        public bool Alerted { get; set; }
    }
}
