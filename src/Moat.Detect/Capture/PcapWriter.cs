using System.Buffers.Binary;

namespace Moat.Detect.Capture;

/// <summary>Writes a little-endian microsecond pcap file, the format every tool reads.</summary>
internal sealed class PcapWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly byte[] _header = new byte[16];

    internal PcapWriter(Stream stream, LinkType linkType, int snapLength = 65535, bool ownsStream = false)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        Span<byte> global = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(global, PcapReader.MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(global[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(global[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(global[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(global[12..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(global[16..], snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(global[20..], (uint)linkType);
        _stream.Write(global);
    }

    internal void Write(DateTimeOffset timestamp, ReadOnlySpan<byte> data, int originalLength)
    {
        long ticks = (timestamp - DateTimeOffset.UnixEpoch).Ticks;
        if (ticks < 0)
        {
            ticks = 0;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_header, (uint)(ticks / TimeSpan.TicksPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(4), (uint)(ticks % TimeSpan.TicksPerSecond / 10));
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(8), (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(12), (uint)Math.Max(originalLength, data.Length));
        _stream.Write(_header);
        _stream.Write(data);
    }

    internal void Write(in CapturedPacket packet) => Write(packet.Timestamp, packet.Data.Span, packet.OriginalLength);

    public void Dispose()
    {
        _stream.Flush();
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }
}
