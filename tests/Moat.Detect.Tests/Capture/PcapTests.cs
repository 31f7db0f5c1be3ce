using System.Buffers.Binary;
using Moat.Detect.Capture;

namespace Moat.Detect.Tests.Capture;

public sealed class PcapTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Writer_ThenReader_RoundTripsBytesTimestampAndLength()
    {
        using var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, LinkType.Raw))
        {
            writer.Write(When.AddTicks(1_234_560), [1, 2, 3], 60);
            writer.Write(When.AddSeconds(1), [4], 1);
        }

        var packets = CaptureReader.Read(stream.ToArray()).ToList();

        Assert.Equal(2, packets.Count);
        Assert.Equal(LinkType.Raw, packets[0].LinkType);
        Assert.Equal(new byte[] { 1, 2, 3 }, packets[0].Data.ToArray());
        Assert.Equal(60, packets[0].OriginalLength);
        Assert.Equal(When.AddTicks(1_234_560), packets[0].Timestamp);
        Assert.Equal(When.AddSeconds(1), packets[1].Timestamp);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Reader_BothByteOrdersAndNanosecondMagic_ReadTheSameRecord(bool bigEndian, bool nanoseconds)
    {
        var file = new byte[24 + 16 + 2];
        uint magic = nanoseconds ? 0xA1B23C4D : 0xA1B2C3D4;
        Write32(file, 0, magic, bigEndian);
        Write16(file, 4, 2, bigEndian);
        Write16(file, 6, 4, bigEndian);
        Write32(file, 16, 65535, bigEndian);
        Write32(file, 20, 1, bigEndian);
        Write32(file, 24, 1_700_000_000, bigEndian);
        Write32(file, 28, nanoseconds ? 500_000_000u : 500_000u, bigEndian);
        Write32(file, 32, 2, bigEndian);
        Write32(file, 36, 2, bigEndian);
        file[40] = 0xAB;
        file[41] = 0xCD;

        var packet = Assert.Single(CaptureReader.Read(file));

        Assert.Equal(LinkType.Ethernet, packet.LinkType);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_500), packet.Timestamp);
        Assert.Equal(new byte[] { 0xAB, 0xCD }, packet.Data.ToArray());
    }

    [Fact]
    public void Reader_TruncatedRecord_ThrowsCaptureFormatExceptionWithItsOffset()
    {
        using var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, LinkType.Ethernet))
        {
            writer.Write(When, new byte[10], 10);
            writer.Write(When, new byte[10], 10);
        }

        var bytes = stream.ToArray()[..^3];

        var e = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read(bytes).ToList());
        Assert.Equal(24 + 16 + 10, e.Offset);
    }

    [Fact]
    public void Reader_HugeRecordLength_IsRefusedNotAllocated()
    {
        using var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, LinkType.Ethernet))
        {
            writer.Write(When, new byte[4], 4);
        }

        var bytes = stream.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(24 + 8), 0x7FFF_FFFF);

        var e = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read(bytes).ToList());
        Assert.Equal(24, e.Offset);
    }

    [Fact]
    public void Reader_UnknownMagic_SaysWhatWasExpected()
    {
        var e = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read(new byte[32]).ToList());

        Assert.Contains("pcapng", e.Message, StringComparison.Ordinal);
    }

    internal static void Write32(byte[] b, int at, uint v, bool big)
    {
        if (big)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), v);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);
        }
    }

    internal static void Write16(byte[] b, int at, ushort v, bool big)
    {
        if (big)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), v);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), v);
        }
    }
}
