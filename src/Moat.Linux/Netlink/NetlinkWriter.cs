using System.Buffers.Binary;
using System.Text;

namespace Moat.Linux.Netlink;

/// <summary>
/// Appends netlink messages and their attributes to one growing buffer, laid out as the kernel's
/// NLMSG_ALIGN / NLA_ALIGN macros require (host byte order, 4-byte alignment).
/// </summary>
internal sealed class NetlinkWriter
{
    internal const int HeaderLength = 16;
    internal const int AttributeHeaderLength = 4;

    private byte[] _buffer;

    public NetlinkWriter(int capacity = 1024) => _buffer = new byte[capacity];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, Length);

    public Span<byte> WrittenSpanMutable => _buffer.AsSpan(0, Length);

    public void Clear() => Length = 0;

    internal static int Align(int length) => (length + 3) & ~3;

    /// <summary>Starts a message; returns its offset, to be passed to <see cref="EndMessage"/>.</summary>
    public int BeginMessage(ushort type, ushort flags, uint sequence)
    {
        var start = Length;
        var header = Reserve(HeaderLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        return start;
    }

    public void EndMessage(int start) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(start), (uint)(Length - start));

    /// <summary>struct ifinfomsg (16 bytes): family, pad, type, index, flags, change.</summary>
    public void WriteIfInfo(byte family, int index, uint flags, uint change)
    {
        var s = Reserve(16);
        s[0] = family;
        s[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], change);
    }

    /// <summary>struct ifaddrmsg (8 bytes): family, prefixlen, flags, scope, index.</summary>
    public void WriteIfAddr(byte family, byte prefixLength, byte flags, byte scope, int index)
    {
        var s = Reserve(8);
        s[0] = family;
        s[1] = prefixLength;
        s[2] = flags;
        s[3] = scope;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
    }

    /// <summary>struct rtmsg (12 bytes): family, dst_len, src_len, tos, table, protocol, scope, type, flags.</summary>
    public void WriteRtMsg(byte family, byte destinationLength, byte table, byte protocol, byte scope, byte type, uint flags)
    {
        var s = Reserve(12);
        s[0] = family;
        s[1] = destinationLength;
        s[2] = 0;
        s[3] = 0;
        s[4] = table;
        s[5] = protocol;
        s[6] = scope;
        s[7] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], flags);
    }

    /// <summary>struct tcmsg (20 bytes): family, pad, ifindex, handle, parent, info (traffic control objects).</summary>
    public void WriteTcMsg(byte family, int index, uint handle, uint parent, uint info)
    {
        var s = Reserve(20);
        s.Clear();
        s[0] = family;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], handle);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], parent);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], info);
    }

    /// <summary>struct ndtmsg (4 bytes): family and padding.</summary>
    public void WriteNdtMsg(byte family)
    {
        var s = Reserve(4);
        s.Clear();
        s[0] = family;
    }

    public void PutAttribute(ushort type, ReadOnlySpan<byte> value)
    {
        var s = Reserve(Align(AttributeHeaderLength + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(AttributeHeaderLength + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        value.CopyTo(s[AttributeHeaderLength..]);
        s[(AttributeHeaderLength + value.Length)..].Clear();
    }

    public void PutU32(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(v, value);
        PutAttribute(type, v);
    }

    public void PutU64(ushort type, ulong value)
    {
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(v, value);
        PutAttribute(type, v);
    }

    /// <summary>A NUL-terminated string attribute, as the kernel's NLA_STRING / NLA_NUL_STRING expect.</summary>
    public void PutString(ushort type, string value)
    {
        Span<byte> v = stackalloc byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, v);
        v[^1] = 0;
        PutAttribute(type, v);
    }

    /// <summary>Opens a nested attribute; returns its offset, to be passed to <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        var start = Length;
        var s = Reserve(AttributeHeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(s, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        return start;
    }

    public void EndNested(int start) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)(Length - start));

    private Span<byte> Reserve(int count)
    {
        if (Length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + count));
        }

        var span = _buffer.AsSpan(Length, count);
        Length += count;
        return span;
    }
}
