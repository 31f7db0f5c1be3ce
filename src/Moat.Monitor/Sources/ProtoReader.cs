namespace Moat.Monitor.Sources;

/// <summary>
/// A minimal protocol buffers reader over untrusted bytes: varints, length-delimited fields and skipping, with every
/// length checked against what is left. Enough to read gVisor's trace points without a protobuf package.
/// </summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly bool End => _rest.IsEmpty;

    /// <summary>The next field's number and wire type; false at the end or on a malformed tag.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        field = 0;
        wireType = 0;
        if (_rest.IsEmpty || !TryReadVarint(out var tag) || tag >> 3 is 0 or > int.MaxValue)
        {
            return false;
        }

        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        return true;
    }

    public bool TryReadVarint(out ulong value)
    {
        value = 0;
        for (int shift = 0, i = 0; i < 10 && i < _rest.Length; i++, shift += 7)
        {
            var b = _rest[i];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                _rest = _rest[(i + 1)..];
                return true;
            }
        }

        return false;
    }

    public bool TryReadBytes(out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (!TryReadVarint(out var length) || length > (ulong)_rest.Length)
        {
            return false;
        }

        bytes = _rest[..(int)length];
        _rest = _rest[(int)length..];
        return true;
    }

    /// <summary>Skips a field of the given wire type; false on a malformed or unsupported one (groups).</summary>
    public bool TrySkip(int wireType)
    {
        switch (wireType)
        {
            case 0:
                return TryReadVarint(out _);
            case 1:
                return Advance(8);
            case 2:
                return TryReadBytes(out _);
            case 5:
                return Advance(4);
            default:
                return false;
        }
    }

    private bool Advance(int n)
    {
        if (_rest.Length < n)
        {
            return false;
        }

        _rest = _rest[n..];
        return true;
    }
}
