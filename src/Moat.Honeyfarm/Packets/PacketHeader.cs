using System.Buffers.Binary;
using System.Net;

namespace Moat.Honeyfarm.Packets;

/// <summary>Why a packet read from the dark range could not be used for late binding.</summary>
public enum PacketError
{
    None,
    Truncated,
    NotIpv4,
    BadHeaderLength,
    BadTotalLength,
}

/// <summary>
/// The fields of an IPv4 packet that late binding needs (addresses, protocol, destination port), read without
/// allocating. Non-first fragments carry no port; they are marked so the gateway never binds on them.
/// </summary>
public readonly record struct PacketHeader(uint Source, uint Destination, byte Protocol, ushort DestinationPort, bool IsLaterFragment, int TotalLength)
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;

    public IPAddress SourceAddress => ToAddress(Source);

    public IPAddress DestinationAddress => ToAddress(Destination);

    public static IPAddress ToAddress(uint address) => new(BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(address) : address);

    public static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !address.TryWriteBytes(bytes, out _))
        {
            throw new ArgumentException($"Address {address} is not IPv4; the honeyfarm serves IPv4 ranges.", nameof(address));
        }

        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    /// <summary>Reads the header of <paramref name="packet"/>; a hostile or broken packet yields an error, never an exception.</summary>
    public static PacketError TryParse(ReadOnlySpan<byte> packet, out PacketHeader header)
    {
        header = default;
        if (packet.Length < 20)
        {
            return PacketError.Truncated;
        }

        if (packet[0] >> 4 != 4)
        {
            return PacketError.NotIpv4;
        }

        var headerLength = (packet[0] & 0x0f) * 4;
        if (headerLength < 20 || headerLength > packet.Length)
        {
            return PacketError.BadHeaderLength;
        }

        var totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (totalLength < headerLength || totalLength > packet.Length)
        {
            return PacketError.BadTotalLength;
        }

        var fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x1fff;
        var protocol = packet[9];
        ushort port = 0;
        var transport = packet[headerLength..totalLength];
        if (fragmentOffset == 0 && protocol is Tcp or Udp && transport.Length >= 4)
        {
            port = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
        }

        header = new PacketHeader(
            BinaryPrimitives.ReadUInt32BigEndian(packet[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(packet[16..]),
            protocol,
            port,
            fragmentOffset != 0,
            totalLength);
        return PacketError.None;
    }
}
