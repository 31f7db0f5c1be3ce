using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Packets;

namespace Moat.Detect.Tests.Detectors;

public sealed class ScanContainmentTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public void FirstContactsBeyondTheThreshold_AreBlocked_ButExistingConnectionsPass()
    {
        var filter = new ScanContainment(new DetectorOptions { ContainmentThreshold = 3 });
        var alerts = new List<Alert>();
        var verdicts = new List<ContainmentVerdict>();
        for (int i = 1; i <= 5; i++)
        {
            verdicts.Add(filter.Decide(T0, Syn($"198.19.253.{i}"), alerts));
        }

        Assert.Equal(
            [ContainmentVerdict.Pass, ContainmentVerdict.Pass, ContainmentVerdict.Pass, ContainmentVerdict.BlockScanner, ContainmentVerdict.BlockScanner],
            verdicts);
        Assert.Single(alerts);

        // A host contacted before the block may still be reached.
        Assert.Equal(ContainmentVerdict.Pass, filter.Decide(T0, Syn("198.19.253.1", sourcePort: 40001)));
    }

    [Fact]
    public void AnsweredContacts_CountAsHits_AndKeepTheSourceUnblocked()
    {
        var filter = new ScanContainment(new DetectorOptions { ContainmentThreshold = 3 });
        for (int i = 1; i <= 20; i++)
        {
            string target = $"198.19.253.{i}";
            Assert.Equal(ContainmentVerdict.Pass, filter.Decide(T0, Syn(target)));
            var synAck = PacketDecoder.Decode(LinkType.Ethernet, PacketBuilder.Tcp(target, 80, "198.19.252.2", 40000, TcpFlags.Syn | TcpFlags.Ack))!;
            Assert.Equal(ContainmentVerdict.Pass, filter.Decide(T0, synAck));
        }
    }

    [Fact]
    public void Count_DecaysByOnePerInterval()
    {
        var filter = new ScanContainment(new DetectorOptions { ContainmentThreshold = 2, ContainmentDecayInterval = TimeSpan.FromSeconds(60) });
        filter.Decide(T0, Syn("198.19.253.1"));
        filter.Decide(T0, Syn("198.19.253.2"));
        Assert.Equal(ContainmentVerdict.BlockScanner, filter.Decide(T0.AddSeconds(59), Syn("198.19.253.3")));

        Assert.Equal(ContainmentVerdict.Pass, filter.Decide(T0.AddSeconds(60), Syn("198.19.253.3")));
    }

    private static DecodedPacket Syn(string destination, int sourcePort = 40000) =>
        PacketDecoder.Decode(LinkType.Ethernet, PacketBuilder.Tcp("198.19.252.2", sourcePort, destination, 80, TcpFlags.Syn))!;
}
