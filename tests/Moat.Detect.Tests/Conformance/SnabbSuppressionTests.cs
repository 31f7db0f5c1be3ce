using System.Net;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;

namespace Moat.Detect.Tests.Conformance;

/// <summary>Snabb's scan_suppression test vector: the containment filter passes exactly the packets the peer passed.</summary>
public sealed class SnabbSuppressionTests
{
    [Fact]
    public void HygieneCheck_FilteredByContainment_YieldsThePeersOutputPackets()
    {
        var options = new DetectorOptions { ProtectedNetworks = [IPNetwork.Parse("192.168.100.102/32")] };
        var input = File.ReadAllBytes(ConformanceData.Path("scan-snabb-suppression", "hygiene-check.pcap"));
        var expected = File.ReadAllBytes(ConformanceData.Path("scan-snabb-suppression", "hygiene-check-out.pcap"));

        using var output = new MemoryStream();
        using (var writer = new PcapWriter(output, LinkType.Ethernet))
        {
            CaptureReplay.Run(input, new DetectionEngine(options), containment: true, passed: writer);
        }

        var want = CaptureReader.Read(expected).Select(p => p.Data.ToArray()).ToList();
        var got = CaptureReader.Read(output.ToArray()).Select(p => p.Data.ToArray()).ToList();
        Assert.Equal(5, want.Count);
        Assert.Equal(want.Count, got.Count);
        for (int i = 0; i < want.Count; i++)
        {
            Assert.Equal(want[i], got[i]);
        }
    }
}
