using Moat.Detect.Capture;
using Moat.Detect.Detectors;

namespace Moat.Detect.Tests.Conformance;

/// <summary>With default thresholds every scan capture raises an alert and no benign capture does.</summary>
public sealed class TrafficTests
{
    public static TheoryData<string> Scans => [.. ConformanceData.Captures("traffic-scans").Select(f => Path.GetFileName(f))];

    public static TheoryData<string> Benign => [.. ConformanceData.Captures("traffic-benign").Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(Scans))]
    public void ScanCapture_WithDefaults_RaisesAnAlert(string capture)
    {
        var result = CaptureReplay.Run(File.ReadAllBytes(ConformanceData.Path("traffic-scans", capture)), new DetectionEngine());

        Assert.NotEmpty(result.Alerts);
    }

    [Theory]
    [MemberData(nameof(Benign))]
    public void BenignCapture_WithDefaults_RaisesNoAlert(string capture)
    {
        var result = CaptureReplay.Run(File.ReadAllBytes(ConformanceData.Path("traffic-benign", capture)), new DetectionEngine());

        Assert.True(result.Alerts.Count == 0, string.Join(Environment.NewLine, result.Alerts.Select(a => a.Message)));
        Assert.Equal(0, result.Undecoded);
    }

    [Fact]
    public void Backscatter_WithDefaults_RaisesNoAlert()
    {
        var result = CaptureReplay.Run(File.ReadAllBytes(ConformanceData.Path("scan-zeek-simple-scan", "backscatter.trace")), new DetectionEngine(), containment: false);

        Assert.True(result.Alerts.Count == 0, string.Join(Environment.NewLine, result.Alerts.Select(a => a.Message)));
    }
}
