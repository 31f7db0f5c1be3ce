using System.Buffers.Binary;
using System.Net;
using Moat.Detect.Packets;

namespace Moat.Detect.Tests.Packets;

/// <summary>Builds test frames byte by byte from the RFC layouts, independently of the decoder under test.</summary>
internal static class PacketBuilder
{
    internal static byte[] Tcp(string source, int sourcePort, string destination, int destinationPort, TcpFlags flags, int payload = 0, int window = 1024) =>
        Ethernet(0x0800, Ipv4(source, destination, 6, TcpHeader(sourcePort, destinationPort, flags, window, payload)));

    internal static byte[] Udp(string source, int sourcePort, string destination, int destinationPort, int payload = 0) =>
        Ethernet(0x0800, Ipv4(source, destination, 17, UdpHeader(sourcePort, destinationPort, payload)));

    internal static byte[] Ethernet(ushort etherType, byte[] payload, ushort? vlan = null)
    {
        var frame = new List<byte>();
        frame.AddRange([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
        if (vlan is { } id)
        {
            frame.AddRange([0x81, 0x00, (byte)(id >> 8), (byte)id]);
        }

        frame.AddRange([(byte)(etherType >> 8), (byte)etherType]);
        frame.AddRange(payload);
        return [.. frame];
    }

    internal static byte[] Ipv4(string source, string destination, byte protocol, byte[] payload, byte[]? options = null, ushort fragment = 0)
    {
        options ??= [];
        int headerLength = 20 + options.Length;
        var packet = new byte[headerLength + payload.Length];
        packet[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), fragment);
        packet[8] = 64;
        packet[9] = protocol;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(packet, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(packet, 16);
        options.CopyTo(packet, 20);
        payload.CopyTo(packet, headerLength);
        return packet;
    }

    internal static byte[] Ipv6(string source, string destination, byte nextHeader, byte[] payload)
    {
        var packet = new byte[40 + payload.Length];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)payload.Length);
        packet[6] = nextHeader;
        packet[7] = 64;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(packet, 8);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(packet, 24);
        payload.CopyTo(packet, 40);
        return packet;
    }

    internal static byte[] TcpHeader(int sourcePort, int destinationPort, TcpFlags flags, int window = 1024, int payload = 0)
    {
        var header = new byte[20 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(header, (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)destinationPort);
        header[12] = 5 << 4;
        header[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)window);
        return header;
    }

    internal static byte[] UdpHeader(int sourcePort, int destinationPort, int payload = 0)
    {
        var header = new byte[8 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(header, (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)(8 + payload));
        return header;
    }
}
