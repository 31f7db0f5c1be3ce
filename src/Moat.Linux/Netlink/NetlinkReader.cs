using System.Buffers.Binary;
using System.Text;

namespace Moat.Linux.Netlink;

/// <summary>One netlink message inside a received datagram: header fields and the payload after the header.</summary>
internal readonly ref struct NetlinkMessage
{
    public NetlinkMessage(ushort type, ushort flags, uint sequence, ReadOnlySpan<byte> payload)
    {
        Type = type;
        Flags = flags;
        Sequence = sequence;
        Payload = payload;
    }

    public ushort Type { get; }

    public ushort Flags { get; }

    public uint Sequence { get; }

    public ReadOnlySpan<byte> Payload { get; }
}

/// <summary>Walks the messages of one datagram (several may be packed back to back, each 4-byte aligned).</summary>
internal ref struct NetlinkMessageEnumerator
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkMessageEnumerator(ReadOnlySpan<byte> datagram)
    {
        _rest = datagram;
        Current = default;
    }

    public NetlinkMessage Current { get; private set; }

    public readonly NetlinkMessageEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < NetlinkWriter.HeaderLength)
        {
            return false;
        }

        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(_rest);
        if (length < NetlinkWriter.HeaderLength || length > _rest.Length)
        {
            throw new InvalidDataException($"Netlink message length {length} does not fit the {_rest.Length} bytes left in the datagram.");
        }

        Current = new NetlinkMessage(
            BinaryPrimitives.ReadUInt16LittleEndian(_rest[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(_rest[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(_rest[8..]),
            _rest[NetlinkWriter.HeaderLength..length]);
        _rest = _rest[Math.Min(NetlinkWriter.Align(length), _rest.Length)..];
        return true;
    }
}

/// <summary>One attribute: its type (flags NLA_F_NESTED / NLA_F_NET_BYTEORDER stripped) and its value.</summary>
internal readonly ref struct NetlinkAttribute
{
    internal const ushort TypeMask = 0x3fff;

    public NetlinkAttribute(ushort type, ReadOnlySpan<byte> value)
    {
        Type = type;
        Value = value;
    }

    public ushort Type { get; }

    public ReadOnlySpan<byte> Value { get; }

    public uint AsU32() => BinaryPrimitives.ReadUInt32LittleEndian(Value);

    public int AsI32() => BinaryPrimitives.ReadInt32LittleEndian(Value);

    /// <summary>A string attribute without its trailing NUL.</summary>
    public string AsString()
    {
        var end = Value.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? Value : Value[..end]);
    }

    public NetlinkAttributeEnumerator Nested() => new(Value);
}

/// <summary>Walks a run of attributes (the tail of a message, or the value of a nested attribute).</summary>
internal ref struct NetlinkAttributeEnumerator
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkAttributeEnumerator(ReadOnlySpan<byte> attributes)
    {
        _rest = attributes;
        Current = default;
    }

    public NetlinkAttribute Current { get; private set; }

    public readonly NetlinkAttributeEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < NetlinkWriter.AttributeHeaderLength)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
        if (length < NetlinkWriter.AttributeHeaderLength || length > _rest.Length)
        {
            throw new InvalidDataException($"Netlink attribute length {length} does not fit the {_rest.Length} bytes left.");
        }

        var type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(_rest[2..]) & NetlinkAttribute.TypeMask);
        Current = new NetlinkAttribute(type, _rest[NetlinkWriter.AttributeHeaderLength..length]);
        _rest = _rest[Math.Min(NetlinkWriter.Align(length), _rest.Length)..];
        return true;
    }
}
