using System.Net;
using System.Text.RegularExpressions;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;

namespace Moat.Detect.Tests.Conformance;

/// <summary>The peer's notices (ncsa/bro-simple-scan baselines) reproduced with the thresholds its tests set.</summary>
public sealed partial class ZeekSimpleScanTests
{
    private const string Folder = "scan-zeek-simple-scan";

    public static TheoryData<string, string> Cases => new()
    {
        { "445_scan.pcap", "test_445_scan.notice.log" },
        { "multiport_scan.pcap", "test_mutiport_scan.notice.log" },
        { "port_scan.pcap", "test_port_scan.notice.log" },
        { "scan_with_zero_windows.pcap", "test_port_scan_with_zero_windows.notice.log" },
        { "backscatter.trace", "test_backscatter.notice.log" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Capture_WithPeerThresholds_ProducesThePeersNotices(string capture, string expectedLog)
    {
        var options = OptionsFor(capture);
        var engine = new DetectionEngine(options, [AlertKinds.AddressScan, AlertKinds.PortScan, AlertKinds.RandomScan]);
        var result = CaptureReplay.Run(File.ReadAllBytes(ConformanceData.Path(Folder, capture)), engine, containment: false);

        var expected = File.ReadAllLines(ConformanceData.Path(Folder, "expected", expectedLog))
            .Where(l => l.Length > 0)
            .Select(l => l.Split('\t'))
            .ToList();
        var actual = result.Alerts.Select(ToNoticeFields).ToList();

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            // The upstream test masks port numbers in multi-port messages with '#'; mask ours the same way.
            var want = expected[i];
            var got = actual[i];
            if (want[3].Contains("#/tcp", StringComparison.Ordinal))
            {
                got[3] = PortNumber().Replace(got[3], "#/tcp");
            }

            Assert.Equal(want, got);
        }
    }

    private static string[] ToNoticeFields(Alert alert)
    {
        string note = alert.Detector switch
        {
            AlertKinds.AddressScan => "Scan::Address_Scan",
            AlertKinds.PortScan => "Scan::Port_Scan",
            AlertKinds.RandomScan => "Scan::Random_Scan",
            _ => alert.Detector,
        };
        return
        [
            alert.Source.ToString(),
            alert.Port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
            note,
            alert.Message,
            alert.Evidence["local"] == 1 ? "local" : "remote",
        ];
    }

    // The test configurations of the upstream package (testing/tests/*.zeek), as summarised in SOURCE.txt.
    private static DetectorOptions OptionsFor(string capture) => capture switch
    {
        "445_scan.pcap" or "multiport_scan.pcap" => new DetectorOptions
        {
            LocalNetworks = [IPNetwork.Parse("192.168.0.0/16"), IPNetwork.Parse("10.10.0.0/16")],
            DarknetNetworks = [IPNetwork.Parse("10.10.0.0/16")],
        },
        "port_scan.pcap" => new DetectorOptions { LocalNetworks = [IPNetwork.Parse("192.168.2.22/32")], ScanThreshold = 5 },
        "scan_with_zero_windows.pcap" => new DetectorOptions { LocalNetworks = [IPNetwork.Parse("10.0.0.0/24")], LocalScanThreshold = 5 },
        "backscatter.trace" => new DetectorOptions { LocalNetworks = [IPNetwork.Parse("192.150.0.0/16")] },
        _ => throw new ArgumentException($"No peer configuration for {capture}.", nameof(capture)),
    };

    [GeneratedRegex(@"\d+/tcp")]
    private static partial Regex PortNumber();
}
