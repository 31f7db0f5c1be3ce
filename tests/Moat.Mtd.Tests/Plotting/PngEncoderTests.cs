using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Moat.Mtd.Plotting;

namespace Moat.Mtd.Tests.Plotting;

public sealed class PngEncoderTests
{
    /// <summary>Bitwise CRC-32 straight from the PNG specification's definition, independent of the encoder's table.</summary>
    private static uint ReferenceCrc(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private sealed record Chunk(string Type, byte[] Data);

    private static List<Chunk> ParseAndCheckCrcs(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var chunks = new List<Chunk>();
        var at = 8;
        while (at < png.Length)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            var typeAndData = png.AsSpan(at + 4, 4 + length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            Assert.Equal(ReferenceCrc(typeAndData), crc);
            chunks.Add(new Chunk(Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray()));
            at += 12 + length;
        }

        Assert.Equal(png.Length, at);
        return chunks;
    }

    private static byte[] Inflate(IEnumerable<Chunk> idat)
    {
        using var z = new ZLibStream(new MemoryStream(idat.SelectMany(c => c.Data).ToArray()), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        return raw.ToArray();
    }

    [Fact]
    public void Encode_ProducesValidChunksWithCorrectCrcs_AndPixelsThatDecodeBack()
    {
        const int w = 3, h = 2;
        byte[] rgb =
        [
            255, 0, 0, 0, 255, 0, 0, 0, 255,
            10, 20, 30, 40, 50, 60, 70, 80, 90,
        ];
        var chunks = ParseAndCheckCrcs(PngEncoder.Encode(w, h, rgb));

        Assert.Equal(["IHDR", "IDAT", "IEND"], chunks.Select(c => c.Type));
        var ihdr = chunks[0].Data;
        Assert.Equal(w, BinaryPrimitives.ReadInt32BigEndian(ihdr));
        Assert.Equal(h, BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4)));
        Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, ihdr[8..]);
        Assert.Empty(chunks[2].Data);

        var raw = Inflate(chunks.Where(c => c.Type == "IDAT"));
        Assert.Equal(h * (1 + (3 * w)), raw.Length);
        Assert.Equal(0, raw[0]);
        Assert.Equal(0, raw[1 + (3 * w)]);
        Assert.Equal(rgb[..9], raw[1..10]);
        Assert.Equal(rgb[9..], raw[11..]);
    }

    [Fact]
    public void Encode_RejectsWrongBufferSize()
    {
        Assert.Throws<ArgumentException>(() => PngEncoder.Encode(2, 2, new byte[11]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PngEncoder.Encode(0, 2, []));
    }

    [Fact]
    public void Crc32_MatchesKnownCheckValue()
    {
        // The CRC-32/ISO-HDLC check value of "123456789".
        Assert.Equal(0xCBF43926u, PngEncoder.Crc32("123456789"u8));
    }
}
