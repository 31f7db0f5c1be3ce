using System.Buffers.Binary;

namespace Moat.Detect.Kernel;

/// <summary>Splits netlink datagrams into messages and messages into attributes; malformed lengths end the walk, they never throw.</summary>
internal static class NetlinkMessages
{
    internal const ushort NestedFlag = 0x8000;
    internal const ushort ByteOrderFlag = 0x4000;
    internal const int HeaderLength = 16;

    internal static int Align(int length) => (length + 3) & ~3;

    internal static List<(ushort Type, ushort Flags, uint Sequence, ReadOnlyMemory<byte> Body)> Split(ReadOnlySpan<byte> datagram)
    {
        var messages = new List<(ushort, ushort, uint, ReadOnlyMemory<byte>)>();
        var copy = datagram.ToArray();
        int offset = 0;
        while (copy.Length - offset >= HeaderLength)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(offset));
            if (length < HeaderLength || length > copy.Length - offset)
            {
                break;
            }

            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(offset + 4));
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(offset + 6));
            uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(offset + 8));
            messages.Add((type, flags, sequence, copy.AsMemory(offset + HeaderLength, length - HeaderLength)));
            offset += Align(length);
        }

        return messages;
    }

    /// <summary>Finds the first attribute of the given type (flags masked) in a run of attributes.</summary>
    internal static bool TryFind(ReadOnlySpan<byte> attributes, ushort type, out ReadOnlySpan<byte> value)
    {
        while (attributes.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            ushort attributeType = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & ~(NestedFlag | ByteOrderFlag));
            if (length < 4 || length > attributes.Length)
            {
                break;
            }

            if (attributeType == type)
            {
                value = attributes[4..length];
                return true;
            }

            int next = Align(length);
            if (next >= attributes.Length)
            {
                break;
            }

            attributes = attributes[next..];
        }

        value = default;
        return false;
    }

    internal static void WriteAttribute(List<byte> output, ushort type, ReadOnlySpan<byte> value)
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], type);
        output.AddRange(header);
        output.AddRange(value);
        while (output.Count % 4 != 0)
        {
            output.Add(0);
        }
    }
}
