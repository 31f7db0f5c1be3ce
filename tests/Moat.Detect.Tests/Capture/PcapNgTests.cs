using System.Buffers.Binary;
using Moat.Detect.Capture;

namespace Moat.Detect.Tests.Capture;

public sealed class PcapNgTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Section_EitherByteOrder_ReadsEnhancedAndSimplePacketsAndSkipsUnknownBlocks(bool big)
    {
        var file = new List<byte>();
        file.AddRange(SectionHeader(big));
        // if_tsresol = 9 -> nanoseconds; snaplen 3 so the simple packet is cut to 3 bytes.
        file.AddRange(Block(1, big, [.. U16(1, big), 0, 0, .. U32(3, big), .. U16(9, big), .. U16(1, big), 9, 0, 0, 0, 0, 0, 0, 0]));
        file.AddRange(Block(0x0BAD, big, [1, 2, 3, 4]));
        ulong nanos = 1_700_000_000_123_456_789;
        file.AddRange(Block(6, big, [.. U32(0, big), .. U32((uint)(nanos >> 32), big), .. U32((uint)nanos, big), .. U32(2, big), .. U32(60, big), 0xAA, 0xBB, 0, 0]));
        file.AddRange(Block(3, big, [.. U32(5, big), 1, 2, 3, 4, 5, 0, 0, 0]));

        var packets = CaptureReader.Read(file.ToArray()).ToList();

        Assert.Equal(2, packets.Count);
        Assert.Equal(LinkType.Ethernet, packets[0].LinkType);
        Assert.Equal(new byte[] { 0xAA, 0xBB }, packets[0].Data.ToArray());
        Assert.Equal(60, packets[0].OriginalLength);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddTicks(1_234_567), packets[0].Timestamp);
        Assert.Equal(new byte[] { 1, 2, 3 }, packets[1].Data.ToArray());
    }

    [Fact]
    public void Tsresol_PowerOfTwo_IsHonoured()
    {
        var file = new List<byte>();
        file.AddRange(SectionHeader(false));
        file.AddRange(Block(1, false, [1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0x80 | 10, 0, 0, 0, 0, 0, 0, 0]));
        ulong units = (1000UL << 10) + 512; // 1000.5 s in 1/1024 s
        file.AddRange(Block(6, false, [0, 0, 0, 0, .. U32((uint)(units >> 32), false), .. U32((uint)units, false), 0, 0, 0, 0, 0, 0, 0, 0]));

        var packet = Assert.Single(CaptureReader.Read(file.ToArray()));

        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_000_500), packet.Timestamp);
    }

    [Fact]
    public void Packet_NamingAnUndeclaredInterface_ThrowsWithOffset()
    {
        var file = new List<byte>();
        file.AddRange(SectionHeader(false));
        int offset = file.Count;
        file.AddRange(Block(6, false, [.. U32(3, false), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));

        var e = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read(file.ToArray()).ToList());

        Assert.Equal(offset + 8, e.Offset);
    }

    [Fact]
    public void Block_WithLengthPastTheEnd_ThrowsWithOffset()
    {
        var file = new List<byte>();
        file.AddRange(SectionHeader(false));
        int offset = file.Count;
        file.AddRange([6, 0, 0, 0, .. U32(1 << 20, false), 0, 0, 0, 0]);

        var e = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read(file.ToArray()).ToList());

        Assert.Equal(offset, e.Offset);
    }

    private static byte[] SectionHeader(bool big) =>
        Block(0x0A0D0D0A, big, [.. U32(0x1A2B3C4D, big), .. U16(1, big), .. U16(0, big), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);

    private static byte[] Block(uint type, bool big, byte[] body)
    {
        uint length = (uint)(12 + body.Length);
        // The section header's type is a palindrome, so its byte order does not matter.
        return [.. U32(type, big), .. U32(length, big), .. body, .. U32(length, big)];
    }

    private static byte[] U32(uint v, bool big)
    {
        var b = new byte[4];
        PcapTests.Write32(b, 0, v, big);
        return b;
    }

    private static byte[] U16(ushort v, bool big)
    {
        var b = new byte[2];
        PcapTests.Write16(b, 0, v, big);
        return b;
    }
}
