using System.Buffers.Binary;
using System.Net;
using Moat.Detect.Capture;

namespace Moat.Detect.Packets;

/// <summary>Decodes link, IP and transport headers; every read is bounds-checked, a short packet is "not decoded", never an exception.</summary>
internal static class PacketDecoder
{
    private const ushort EtherTypeIpv4 = 0x0800;
    private const ushort EtherTypeIpv6 = 0x86DD;
    private const ushort EtherTypeVlan = 0x8100;
    private const ushort EtherTypeQinQ = 0x88A8;
    private const int MaxVlanTags = 4;
    private const int MaxExtensionHeaders = 16;

    internal static DecodedPacket? Decode(LinkType linkType, ReadOnlySpan<byte> frame)
    {
        switch (linkType)
        {
            case LinkType.Ethernet:
                return DecodeEthernet(frame);
            case LinkType.Raw or LinkType.RawLegacy12 or LinkType.RawLegacy14:
                return DecodeIp(frame, null);
            case LinkType.Ipv4:
                return DecodeIpv4(frame, null, quoted: false);
            case LinkType.Ipv6:
                return DecodeIpv6(frame, null, quoted: false);
            case LinkType.LinuxSll:
                return frame.Length < 16 ? null : DecodeByEtherType(BinaryPrimitives.ReadUInt16BigEndian(frame[14..]), frame[16..], null);
            case LinkType.LinuxSll2:
                return frame.Length < 20 ? null : DecodeByEtherType(BinaryPrimitives.ReadUInt16BigEndian(frame), frame[20..], null);
            case LinkType.Null or LinkType.Loop:
                return DecodeLoopback(linkType, frame);
            default:
                return null;
        }
    }

    private static DecodedPacket? DecodeEthernet(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14)
        {
            return null;
        }

        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        var rest = frame[14..];
        int? vlan = null;
        for (int tags = 0; (etherType == EtherTypeVlan || etherType == EtherTypeQinQ) && tags < MaxVlanTags; tags++)
        {
            if (rest.Length < 4)
            {
                return null;
            }

            vlan ??= BinaryPrimitives.ReadUInt16BigEndian(rest) & 0x0FFF;
            etherType = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
            rest = rest[4..];
        }

        return DecodeByEtherType(etherType, rest, vlan);
    }

    private static DecodedPacket? DecodeByEtherType(ushort etherType, ReadOnlySpan<byte> rest, int? vlan) => etherType switch
    {
        EtherTypeIpv4 => DecodeIpv4(rest, vlan, quoted: false),
        EtherTypeIpv6 => DecodeIpv6(rest, vlan, quoted: false),
        _ => null,
    };

    private static DecodedPacket? DecodeLoopback(LinkType linkType, ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 4)
        {
            return null;
        }

        // DLT_NULL stores the BSD address family in the capturing host's byte order, DLT_LOOP in network order.
        uint family = linkType == LinkType.Loop
            ? BinaryPrimitives.ReadUInt32BigEndian(frame)
            : BinaryPrimitives.ReadUInt32LittleEndian(frame);
        if (linkType == LinkType.Null && family > 0xFFFF)
        {
            family = BinaryPrimitives.ReverseEndianness(family);
        }

        return family switch
        {
            2 => DecodeIpv4(frame[4..], null, quoted: false),
            24 or 28 or 30 => DecodeIpv6(frame[4..], null, quoted: false),
            _ => null,
        };
    }

    private static DecodedPacket? DecodeIp(ReadOnlySpan<byte> packet, int? vlan)
    {
        if (packet.IsEmpty)
        {
            return null;
        }

        return (packet[0] >> 4) switch
        {
            4 => DecodeIpv4(packet, vlan, quoted: false),
            6 => DecodeIpv6(packet, vlan, quoted: false),
            _ => null,
        };
    }

    private static DecodedPacket? DecodeIpv4(ReadOnlySpan<byte> packet, int? vlan, bool quoted)
    {
        if (packet.Length < 20 || packet[0] >> 4 != 4)
        {
            return null;
        }

        int headerLength = (packet[0] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (totalLength == 0 && !quoted)
        {
            // Captures taken before segmentation offload carry 0 here; the captured length is the best there is.
            totalLength = Math.Min(packet.Length, ushort.MaxValue);
        }

        if (headerLength < 20 || packet.Length < headerLength || totalLength < headerLength)
        {
            return null;
        }

        ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        bool moreFragments = (fragment & 0x2000) != 0;
        int fragmentOffset = fragment & 0x1FFF;
        byte protocol = packet[9];
        var source = new IPAddress(packet.Slice(12, 4));
        var destination = new IPAddress(packet.Slice(16, 4));

        // A quoted header inside an ICMP error may claim more than the quote holds; only the captured part is used.
        var payload = packet[headerLength..Math.Min(packet.Length, Math.Max(totalLength, headerLength))];
        int payloadLength = totalLength - headerLength;
        var ip = new DecodedPacket
        {
            Source = source,
            Destination = destination,
            ProtocolNumber = protocol,
            PayloadLength = payloadLength,
            IsFragment = moreFragments || fragmentOffset != 0,
            VlanId = vlan,
        };
        return fragmentOffset != 0 ? ip : DecodeTransport(ip, payload, payloadLength, quoted);
    }

    private static DecodedPacket? DecodeIpv6(ReadOnlySpan<byte> packet, int? vlan, bool quoted)
    {
        if (packet.Length < 40 || packet[0] >> 4 != 6)
        {
            return null;
        }

        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        byte next = packet[6];
        var source = new IPAddress(packet.Slice(8, 16));
        var destination = new IPAddress(packet.Slice(24, 16));
        var rest = packet[40..];
        int remaining = payloadLength;
        bool fragment = false;
        bool laterFragment = false;
        for (int i = 0; i < MaxExtensionHeaders; i++)
        {
            // Hop-by-hop, routing, destination options, mobility: generic (next, length in 8-octet units) layout.
            if (next is 0 or 43 or 60 or 135)
            {
                if (rest.Length < 8)
                {
                    return null;
                }

                int length = (rest[1] + 1) * 8;
                if (rest.Length < length)
                {
                    return null;
                }

                next = rest[0];
                rest = rest[length..];
                remaining -= length;
            }
            else if (next == 44)
            {
                if (rest.Length < 8)
                {
                    return null;
                }

                ushort offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
                fragment = true;
                laterFragment = (offsetAndFlags >> 3) != 0;
                next = rest[0];
                rest = rest[8..];
                remaining -= 8;
            }
            else if (next == 51)
            {
                if (rest.Length < 8)
                {
                    return null;
                }

                int length = (rest[1] + 2) * 4;
                if (rest.Length < length)
                {
                    return null;
                }

                next = rest[0];
                rest = rest[length..];
                remaining -= length;
            }
            else
            {
                break;
            }
        }

        var ip = new DecodedPacket
        {
            Source = source,
            Destination = destination,
            ProtocolNumber = next,
            PayloadLength = Math.Max(remaining, 0),
            IsFragment = fragment,
            VlanId = vlan,
        };
        return laterFragment ? ip : DecodeTransport(ip, rest, Math.Max(remaining, 0), quoted);
    }

    private static DecodedPacket DecodeTransport(DecodedPacket ip, ReadOnlySpan<byte> payload, int payloadLength, bool quoted)
    {
        switch (ip.ProtocolNumber)
        {
            case 6:
                // A quoted TCP header is only guaranteed to hold its first 8 bytes (RFC 792): the ports.
                if (payload.Length >= 20)
                {
                    int dataOffset = (payload[12] >> 4) * 4;
                    int destinationPort = BinaryPrimitives.ReadUInt16BigEndian(payload[2..]);
                    var smtp = !quoted && SmtpCommands.IsCleartextSmtpPort(destinationPort) && dataOffset >= 20 && dataOffset < payload.Length
                        ? SmtpCommands.Count(payload[dataOffset..Math.Min(payload.Length, Math.Max(payloadLength, dataOffset))])
                        : default;
                    return ip with
                    {
                        SmtpRecipients = smtp.Recipients,
                        SmtpMessages = smtp.Messages,
                        SourcePort = BinaryPrimitives.ReadUInt16BigEndian(payload),
                        DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(payload[2..]),
                        Flags = (TcpFlags)payload[13],
                        Window = BinaryPrimitives.ReadUInt16BigEndian(payload[14..]),
                        ApplicationLength = Math.Max(payloadLength - Math.Max(dataOffset, 20), 0),
                        HasTransportHeader = true,
                    };
                }

                return payload.Length >= 4 && quoted
                    ? ip with { SourcePort = BinaryPrimitives.ReadUInt16BigEndian(payload), DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) }
                    : ip;
            case 17:
                return payload.Length < (quoted ? 4 : 8) ? ip : ip with
                {
                    SourcePort = BinaryPrimitives.ReadUInt16BigEndian(payload),
                    DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(payload[2..]),
                    ApplicationLength = Math.Max(payloadLength - 8, 0),
                    HasTransportHeader = !quoted,
                };
            case 1:
            case 58:
                if (payload.Length < 4)
                {
                    return ip;
                }

                var icmp = ip with { IcmpType = payload[0], IcmpCode = payload[1], ApplicationLength = Math.Max(payloadLength - 8, 0) };
                bool isError = ip.ProtocolNumber == 1 ? payload[0] is 3 or 4 or 5 or 11 or 12 : payload[0] < 128;
                if (isError && !quoted && payload.Length > 8)
                {
                    var inner = ip.ProtocolNumber == 1
                        ? DecodeIpv4(payload[8..], null, quoted: true)
                        : DecodeIpv6(payload[8..], null, quoted: true);
                    return icmp with { Quoted = inner };
                }

                return icmp;
            default:
                return ip;
        }
    }
}
