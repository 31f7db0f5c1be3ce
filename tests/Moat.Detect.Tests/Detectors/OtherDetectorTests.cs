using System.Net;
using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Moat.Detect.Packets;
using static Moat.Detect.Tests.Detectors.EventFactory;

namespace Moat.Detect.Tests.Detectors;

public sealed class OtherDetectorTests
{
    [Fact]
    public void SmtpFanOut_AlertsAtTheThresholdOfDistinctServersWithinTheWindow()
    {
        var engine = new DetectionEngine(new DetectorOptions { SmtpFanOutThreshold = 5 }, [AlertKinds.SmtpFanOut]);
        var alerts = new List<Alert>();
        for (int i = 1; i <= 4; i++)
        {
            engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", $"198.19.252.{100 + i}", 25, i), alerts);
        }

        Assert.Empty(alerts);
        engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", "198.19.252.105", 25, 5), alerts);

        var alert = Assert.Single(alerts);
        Assert.Equal(5, alert.Evidence["destinations"]);
    }

    [Fact]
    public void SmtpFanOut_SpreadOverMoreThanTheWindow_IsNotReported()
    {
        var engine = new DetectionEngine(new DetectorOptions { SmtpFanOutThreshold = 5 }, [AlertKinds.SmtpFanOut]);
        var alerts = new List<Alert>();
        for (int i = 1; i <= 10; i++)
        {
            engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", $"198.19.252.{100 + i}", 25, i * 30), alerts);
        }

        Assert.Empty(alerts);
    }

    [Fact]
    public void ConnectionFlood_CountsAttemptsPerDestinationPerWindow()
    {
        var engine = new DetectionEngine(new DetectorOptions { ConnectionFloodThreshold = 10 }, [AlertKinds.ConnectionFlood]);
        var alerts = new List<Alert>();
        for (int i = 0; i < 9; i++)
        {
            engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", "198.19.252.9", 80, i * 0.1, 1000 + i), alerts);
        }

        engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", "198.19.252.10", 80, 1, 2000), alerts);
        Assert.Empty(alerts);
        engine.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", "198.19.252.9", 80, 1, 3000), alerts);

        Assert.Equal("198.19.252.9", Assert.Single(alerts).Target);
    }

    [Fact]
    public void PacketFlood_RepliesDoNotCount()
    {
        var engine = new DetectionEngine(new DetectorOptions { PacketFloodThreshold = 3 }, [AlertKinds.PacketFlood]);
        var alerts = new List<Alert>();
        var packet = Tcp(FlowEventKind.Packet, "198.19.252.2", "198.19.252.9", 80);
        engine.Observe(packet with { IsReply = true }, alerts);
        engine.Observe(packet with { IsReply = true }, alerts);
        engine.Observe(packet, alerts);
        engine.Observe(packet, alerts);
        Assert.Empty(alerts);

        engine.Observe(packet, alerts);

        Assert.Single(alerts);
    }

    [Theory]
    [InlineData(TcpFlags.None, true)]
    [InlineData(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Urg, true)]
    [InlineData(TcpFlags.Syn | TcpFlags.Fin, true)]
    [InlineData(TcpFlags.Syn | TcpFlags.Rst, true)]
    [InlineData(TcpFlags.Syn, false)]
    [InlineData(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Urg | TcpFlags.Ack, false)]
    [InlineData(TcpFlags.Rst | TcpFlags.Ack, false)]
    public void FlagProbe_KnowsWhichCombinationsNoStackSends(TcpFlags flags, bool illegal) =>
        Assert.Equal(illegal, TcpFlagProbeDetector.IsIllegal(flags));

    [Fact]
    public void BackdoorPort_ReportsTheClientOnce_AndIgnoresEmptyPackets()
    {
        var engine = new DetectionEngine(DetectorOptions.Default, [AlertKinds.BackdoorPort]);
        var alerts = new List<Alert>();
        var toShell = Tcp(FlowEventKind.Packet, "198.19.252.2", "198.19.252.9", 4444, sourcePort: 1793);
        var fromShell = new FlowEvent(T0, IPAddress.Parse("198.19.252.9"), 4444, IPAddress.Parse("198.19.252.2"), 1793, TransportProtocol.Tcp, FlowEventKind.Packet, 20);
        engine.Observe(toShell, alerts);
        Assert.Empty(alerts);

        engine.Observe(fromShell, alerts);
        engine.Observe(toShell with { Bytes = 18 }, alerts);

        var alert = Assert.Single(alerts);
        Assert.Equal("198.19.252.2", alert.Source.ToString());
        Assert.Equal(4444, alert.Port);
    }

    [Fact]
    public void ZeekScan_LocalScannerUsesTheLocalThreshold()
    {
        var options = new DetectorOptions { LocalNetworks = [IPNetwork.Parse("198.19.252.0/24")], LocalScanThreshold = 30, ScanThreshold = 3 };
        var engine = new DetectionEngine(options, [AlertKinds.PortScan]);
        var alerts = new List<Alert>();
        for (int port = 1; port <= 29; port++)
        {
            engine.Observe(Tcp(FlowEventKind.Refused, "198.19.252.2", "198.19.253.9", port), alerts);
        }

        Assert.Empty(alerts);
        engine.Observe(Tcp(FlowEventKind.Refused, "198.19.252.2", "198.19.253.9", 30), alerts);

        Assert.Equal(AlertKinds.PortScan, Assert.Single(alerts).Detector);
    }
}
