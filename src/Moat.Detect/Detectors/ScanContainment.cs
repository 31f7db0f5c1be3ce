using System.Net;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>
/// Fast scan containment (Weaver, Staniford, Paxson, "Very Fast Containment of Scanning Worms", 2004) as a per-packet
/// filter. Each source has a count of failed minus successful first contacts: a first contact counts as a miss when it
/// is sent (+1) and is turned into a hit when answered (−2), so the count needs no timeouts; it is kept within
/// [C_min, C_max] and decays by one per interval. A source whose count has reached T may still use the connections it
/// has, but its new first contacts are blocked. Non-SYN TCP packets to the inside that belong to no connection are
/// dropped as in the paper's hygiene rule.
/// </summary>
internal sealed class ScanContainment
{
    private readonly DetectorOptions _options;
    private readonly BoundedTable<IPAddress, Source> _sources;
    private readonly BoundedTable<ConnectionKey, Connection> _connections;

    internal ScanContainment(DetectorOptions options)
    {
        _options = options;
        _sources = new(options.MaxTrackedSources, _ => new Source());
        _connections = new(options.MaxTrackedSources * 4, _ => new Connection());
    }

    internal ContainmentVerdict Decide(DateTimeOffset time, DecodedPacket packet, List<Alert>? alerts = null)
    {
        if (packet.Protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp) || !packet.HasTransportHeader)
        {
            return ContainmentVerdict.Pass;
        }

        var forward = new ConnectionKey(packet.Source, packet.SourcePort, packet.Destination, packet.DestinationPort, packet.ProtocolNumber);
        if (_connections.TryGet(forward, out var connection))
        {
            return ContainmentVerdict.Pass;
        }

        var reverse = new ConnectionKey(packet.Destination, packet.DestinationPort, packet.Source, packet.SourcePort, packet.ProtocolNumber);
        if (_connections.TryGet(reverse, out connection))
        {
            if (!connection.Answered && IsAnswer(packet))
            {
                connection.Answered = true;
                var initiator = _sources.Get(packet.Destination);
                Decay(initiator, time);
                initiator.Count = Math.Max(_options.ContainmentMinimum, initiator.Count - 2);
            }

            return ContainmentVerdict.Pass;
        }

        bool tcp = packet.Protocol == TransportProtocol.Tcp;
        if (tcp && (packet.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Fin)) != TcpFlags.Syn)
        {
            bool toInside = DetectorOptions.Contains(_options.ProtectedNetworks, packet.Destination);
            bool fromInside = DetectorOptions.Contains(_options.ProtectedNetworks, packet.Source);
            return toInside && !fromInside ? ContainmentVerdict.BlockUnsolicited : ContainmentVerdict.Pass;
        }

        var source = _sources.Get(packet.Source);
        Decay(source, time);
        if (!source.Contacted.Contains(packet.Destination))
        {
            if (source.Count >= _options.ContainmentThreshold)
            {
                source.Blocked++;
                if (!source.Alerted && alerts is not null)
                {
                    source.Alerted = true;
                    alerts.Add(new Alert(
                        AlertKinds.ScanContainment,
                        packet.Source,
                        packet.Destination.ToString(),
                        new Dictionary<string, long> { ["count"] = source.Count, ["threshold"] = _options.ContainmentThreshold },
                        time,
                        $"{packet.Source} has {source.Count} more failed than successful first contacts (threshold {_options.ContainmentThreshold}); its new contacts are blocked."));
                }

                return ContainmentVerdict.BlockScanner;
            }

            source.Contacted.Add(packet.Destination);
            if (source.Contacted.Count > _options.TrwMaxContactsPerSource)
            {
                source.Contacted.Clear();
            }

            source.Count = Math.Min(_options.ContainmentMaximum, source.Count + 1);
        }

        _connections.Get(forward);
        return ContainmentVerdict.Pass;
    }

    private static bool IsAnswer(DecodedPacket packet) =>
        packet.Protocol == TransportProtocol.Udp
        || (packet.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack);

    private void Decay(Source source, DateTimeOffset time)
    {
        if (source.LastDecay == default || time < source.LastDecay)
        {
            source.LastDecay = time;
            return;
        }

        long steps = (time - source.LastDecay).Ticks / Math.Max(1, _options.ContainmentDecayInterval.Ticks);
        if (steps > 0)
        {
            if (source.Count > 0)
            {
                source.Count = (int)Math.Max(0, source.Count - steps);
            }

            source.LastDecay += TimeSpan.FromTicks(steps * _options.ContainmentDecayInterval.Ticks);
        }
    }

    private readonly record struct ConnectionKey(IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort, byte Protocol);

    private sealed class Connection
    {
        public bool Answered { get; set; }
    }

    private sealed class Source
    {
        public HashSet<IPAddress> Contacted { get; } = [];

        public int Count { get; set; }

        public long Blocked { get; set; }

        public bool Alerted { get; set; }

        public DateTimeOffset LastDecay { get; set; }
    }
}
