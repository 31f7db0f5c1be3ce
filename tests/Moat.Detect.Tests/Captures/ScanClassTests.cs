using Moat.Detect.Capture;
using Moat.Detect.Detectors;

namespace Moat.Detect.Tests.Captures;

/// <summary>
/// Scans made with nmap and masscan between two test namespaces (make-captures.sh) raise a scan alert that names the
/// technique, with default thresholds; none of them is called a connection flood.
/// </summary>
public sealed class ScanClassTests
{
    [Theory]
    [InlineData("nmap-udp-scan.pcap", "udp", "UDP scan")]
    [InlineData("masscan-udp-scan.pcap", "udp", "UDP scan")]
    [InlineData("nmap-fin-scan.pcap", "fin", "FIN scan")]
    [InlineData("nmap-ack-scan.pcap", "ack", "ACK/window scan")]
    [InlineData("nmap-window-scan.pcap", "ack", "ACK/window scan")]
    [InlineData("nmap-proto-scan.pcap", "protocol", "IP protocol scan")]
    public void ToolScan_WithDefaults_RaisesPortScanNamingTheTechnique(string capture, string technique, string words)
    {
        var result = CaptureReplay.Run(ToolCaptures.Read(capture), new DetectionEngine());
        string all = string.Join(Environment.NewLine, result.Alerts.Select(a => $"{a.Detector}: {a.Message}"));

        var scan = Assert.Single(result.Alerts, a => a.Detector == AlertKinds.PortScan);
        Assert.Equal("198.18.70.1", scan.Source.ToString());
        Assert.Equal("198.18.70.2", scan.Target);
        Assert.Equal(technique, scan.Technique);
        Assert.Contains(words, scan.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Alerts, a => a.Detector == AlertKinds.ConnectionFlood && technique != "udp");
        Assert.True(scan.Evidence["attempts"] >= DetectorOptions.Default.ScanThreshold, all);
    }

    [Theory]
    [InlineData(59, true)]
    [InlineData(60, false)]
    public void NmapUdpScan_UnansweredAndRefusedProbesAreFailures_AnsweredOnesAreNot(int threshold, bool alerts)
    {
        // nmap probed UDP ports 1-60; of those the target answers 53 (echo) and refuses or ignores the rest (its kernel
        // rate-limits ICMP port unreachable), so exactly 59 (host, port) pairs failed.
        var options = DetectorOptions.Default with { ScanThreshold = threshold, KnockKnockThreshold = int.MaxValue };
        var result = CaptureReplay.Run(ToolCaptures.Read("nmap-udp-scan.pcap"), new DetectionEngine(options, [AlertKinds.PortScan]));

        Assert.Equal(alerts, result.Alerts.Count == 1);
    }
}
