using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Packets;

namespace Moat.Detect.Tests.Flows;

/// <summary>
/// A tenant who knows how failures are counted forges packets to get a neighbour blamed as a scanner, or to hide its own
/// scan: neither works. The victim B (198.18.71.2) talks to eight hosts that answer it; the forger A (198.18.71.3)
/// sends ICMP unreachables (port and protocol) and RSTs quoting or naming B's flows from its own address, as it must
/// under containment's anti-spoofing rule.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ForgedOutcomeTests
{
    private const string Victim = "198.18.71.2";
    private const string Forger = "198.18.71.3";

    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 4, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(6)]
    [InlineData(17)]
    public void IcmpUnreachableForgedByANeighbour_DoesNotRefuseTheVictimsContacts(byte protocol)
    {
        var tracker = new FlowTracker();
        var engine = new DetectionEngine();
        var alerts = new List<Alert>();
        var refused = new List<FlowEvent>();
        double t = 0;
        for (int i = 1; i <= 8; i++)
        {
            string host = $"198.18.72.{i}";
            var probe = protocol == 6
                ? PacketBuilder.Tcp(Victim, 40000 + i, host, 443, TcpFlags.Syn)
                : PacketBuilder.Udp(Victim, 40000 + i, host, 53, payload: 12);
            Feed(tracker, engine, t += 0.01, probe, alerts, refused);

            // The forger quotes the victim's packet in a port unreachable (type 3 code 3) addressed to the victim.
            Feed(tracker, engine, t += 0.001, Icmp(Forger, Victim, 3, 3, probe[14..]), alerts, refused);

            var answer = protocol == 6
                ? PacketBuilder.Tcp(host, 443, Victim, 40000 + i, TcpFlags.Syn | TcpFlags.Ack)
                : PacketBuilder.Udp(host, 53, Victim, 40000 + i, payload: 40);
            Feed(tracker, engine, t += 0.001, answer, alerts, refused);
        }

        Assert.Empty(refused);
        Assert.Empty(alerts);
    }

    [Fact]
    public void ProtocolUnreachableForgedByANeighbour_DoesNotRefuseTheVictimsProtocolFlows()
    {
        var tracker = new FlowTracker();
        var engine = new DetectionEngine();
        var alerts = new List<Alert>();
        var refused = new List<FlowEvent>();
        for (int i = 1; i <= 30; i++)
        {
            // GRE (47) to thirty peers, each forged as "protocol unreachable" (type 3 code 2) by the neighbour.
            var gre = PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4(Victim, $"198.18.72.{i}", 47, new byte[8]));
            Feed(tracker, engine, i * 0.01, gre, alerts, refused);
            Feed(tracker, engine, (i * 0.01) + 0.001, Icmp(Forger, Victim, 3, 2, gre[14..]), alerts, refused);
        }

        Assert.Empty(refused);
    }

    [Fact]
    public void RstFromTheScannerItself_DoesNotTurnItsProbesIntoAnything_ButTheTargetsRstRefusesThem()
    {
        // The scanner follows each ACK probe with its own RST (as if to close the contact before an answer): the
        // originator's packets never decide an outcome; the target's RST does.
        var tracker = new FlowTracker();
        var events = new List<FlowEvent>();
        for (int port = 1; port <= 3; port++)
        {
            tracker.Process(T0, Decode(PacketBuilder.Tcp(Victim, 50000, "198.18.72.1", port, TcpFlags.Ack)), events);
            tracker.Process(T0, Decode(PacketBuilder.Tcp(Victim, 50000, "198.18.72.1", port, TcpFlags.Rst)), events);
        }

        Assert.DoesNotContain(events, e => e.Kind is FlowEventKind.Refused or FlowEventKind.Established);
        tracker.Process(T0, Decode(PacketBuilder.Tcp("198.18.72.1", 1, Victim, 50000, TcpFlags.Rst)), events);
        var refused = Assert.Single(events, e => e.Kind == FlowEventKind.Refused);
        Assert.Equal(ScanProbe.Ack, refused.Probe);
    }

    private static void Feed(FlowTracker tracker, DetectionEngine engine, double seconds, byte[] frame, List<Alert> alerts, List<FlowEvent> refused)
    {
        var events = new List<FlowEvent>();
        tracker.Process(T0.AddSeconds(seconds), Decode(frame), events);
        foreach (var e in events)
        {
            if (e.Kind == FlowEventKind.Refused)
            {
                refused.Add(e);
            }

            engine.Observe(e, alerts);
        }
    }

    private static DecodedPacket Decode(byte[] frame) => PacketDecoder.Decode(LinkType.Ethernet, frame) ?? throw new InvalidOperationException("test frame did not decode");

    /// <summary>An ICMP error quoting <paramref name="quotedIp"/> (the offending packet's IP header and first bytes).</summary>
    private static byte[] Icmp(string source, string destination, byte type, byte code, byte[] quotedIp)
    {
        var icmp = new byte[8 + Math.Min(quotedIp.Length, 28)];
        icmp[0] = type;
        icmp[1] = code;
        quotedIp.AsSpan(0, icmp.Length - 8).CopyTo(icmp.AsSpan(8));
        return PacketBuilder.Ethernet(0x0800, PacketBuilder.Ipv4(source, destination, 1, icmp));
    }
}
