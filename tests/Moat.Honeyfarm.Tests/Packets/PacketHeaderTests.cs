using System.Net;
using Moat.Honeyfarm.Packets;

namespace Moat.Honeyfarm.Tests.Packets;

public sealed class PacketHeaderTests
{
    // A TCP SYN 198.18.96.2:40000 -> 198.18.130.7:22, as a kernel would put it on the wire (20-byte IP header).
    private static byte[] Syn() =>
    [
        0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
        198, 18, 96, 2, 198, 18, 130, 7,
        0x9c, 0x40, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];

    [Fact]
    public void TryParse_TcpSyn_ReadsAddressesProtocolAndDestinationPort()
    {
        Assert.Equal(PacketError.None, PacketHeader.TryParse(Syn(), out var h));

        Assert.Equal(IPAddress.Parse("198.18.96.2"), h.SourceAddress);
        Assert.Equal(IPAddress.Parse("198.18.130.7"), h.DestinationAddress);
        Assert.Equal(PacketHeader.Tcp, h.Protocol);
        Assert.Equal(22, h.DestinationPort);
        Assert.False(h.IsLaterFragment);
    }

    [Fact]
    public void TryParse_HeaderWithOptions_FindsThePortAfterThem()
    {
        var p = Syn().ToList();
        p[0] = 0x46;
        p.InsertRange(20, [1, 1, 1, 0]);
        p[3] = 0x2c;

        Assert.Equal(PacketError.None, PacketHeader.TryParse(p.ToArray(), out var h));
        Assert.Equal(22, h.DestinationPort);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(19)]
    public void TryParse_ShorterThanAnIpHeader_IsTruncated(int length) =>
        Assert.Equal(PacketError.Truncated, PacketHeader.TryParse(Syn().AsSpan(0, length), out _));

    [Fact]
    public void TryParse_Ipv6_IsRefused()
    {
        var p = Syn();
        p[0] = 0x60;
        Assert.Equal(PacketError.NotIpv4, PacketHeader.TryParse(p, out _));
    }

    [Theory]
    [InlineData(0x44)] // 16 bytes: below the minimum
    [InlineData(0x4f)] // 60 bytes: longer than the packet
    public void TryParse_ImpossibleHeaderLength_IsRefused(byte versionAndLength)
    {
        var p = Syn();
        p[0] = versionAndLength;
        Assert.Equal(PacketError.BadHeaderLength, PacketHeader.TryParse(p, out _));
    }

    [Theory]
    [InlineData(0x00, 0x10)] // shorter than its own header
    [InlineData(0x05, 0xdc)] // 1500: longer than what was read
    public void TryParse_TotalLengthThatLies_IsRefused(byte high, byte low)
    {
        var p = Syn();
        p[2] = high;
        p[3] = low;
        Assert.Equal(PacketError.BadTotalLength, PacketHeader.TryParse(p, out _));
    }

    [Fact]
    public void TryParse_LaterFragment_HasNoPortAndIsMarked()
    {
        var p = Syn();
        p[6] = 0x00;
        p[7] = 0x10; // offset 16 * 8 bytes

        Assert.Equal(PacketError.None, PacketHeader.TryParse(p, out var h));
        Assert.True(h.IsLaterFragment);
        Assert.Equal(0, h.DestinationPort);
    }

    [Fact]
    public void TryParse_TcpCutBeforeItsPorts_ParsesWithoutAPort()
    {
        var p = Syn().AsSpan(0, 22).ToArray();
        p[3] = 22;

        Assert.Equal(PacketError.None, PacketHeader.TryParse(p, out var h));
        Assert.Equal(0, h.DestinationPort);
    }

    [Fact]
    public void TryParse_RandomBytes_NeverThrows()
    {
        var random = new Random(6);
        var buffer = new byte[80];
        for (var i = 0; i < 100_000; i++)
        {
            random.NextBytes(buffer);
            buffer[0] = (byte)(0x40 | (buffer[0] & 0x0f));
            _ = PacketHeader.TryParse(buffer.AsSpan(0, random.Next(buffer.Length + 1)), out _);
        }
    }

    [Fact]
    public void ToUInt32_AndBack_RoundTrips()
    {
        var a = IPAddress.Parse("198.18.255.1");
        Assert.Equal(0xC612FF01u, PacketHeader.ToUInt32(a));
        Assert.Equal(a, PacketHeader.ToAddress(PacketHeader.ToUInt32(a)));
    }
}
