using System.Net;

namespace Moat.Detect.Detectors;

/// <summary>One detection: which detector, who, against what, on what evidence and when.</summary>
/// <param name="Detector">Detector name, also the alert kind the response policy maps (e.g. "trw", "port-scan").</param>
/// <param name="Source">The host that behaved badly.</param>
/// <param name="Target">Short summary of what it went after ("192.168.2.22", "port 445/tcp", "9 hosts").</param>
/// <param name="Evidence">Named counts that justify the alert (failures, distinct hosts, packets per window...).</param>
/// <param name="Time">When the threshold was crossed, on the event clock.</param>
/// <param name="Message">One sentence for people.</param>
public sealed record Alert(
    string Detector,
    IPAddress Source,
    string Target,
    IReadOnlyDictionary<string, long> Evidence,
    DateTimeOffset Time,
    string Message)
{
    /// <summary>The sandbox the source runs in, when the events came from the live kernel source.</summary>
    public string? SandboxId { get; init; }

    /// <summary>The single port scanned, where the alert is about one port.</summary>
    public int? Port { get; init; }

    /// <summary>For scan alerts from packets: the probe the scan used most ("syn", "udp", "fin", "ack", "null", "xmas", "tcp-flags", "protocol"); null where unknown.</summary>
    public string? Technique { get; init; }
}
