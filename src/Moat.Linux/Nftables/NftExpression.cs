using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Moat.Linux.Nftables;

/// <summary>One expression of an nftables rule, encoded as the kernel's NFTA_EXPR_NAME + NFTA_EXPR_DATA.</summary>
public abstract record NftExpression
{
    private protected NftExpression()
    {
    }

    internal abstract string Name { get; }

    internal abstract void EncodeData(NftEncoder e);
}

/// <summary>The 4-byte registers (NFT_REG32_00 ...) expressions load into and compare from.</summary>
public static class NftRegister
{
    public const uint Verdict = 0;
    public const uint R0 = 8;
    public const uint R1 = 9;
    public const uint R2 = 10;
    public const uint R3 = 11;
}

public enum NftMetaKey : uint
{
    Length = 0,
    Protocol = 1,
    Priority = 2,
    Mark = 3,
    InputInterface = 4,
    OutputInterface = 5,
    InputInterfaceName = 6,
    OutputInterfaceName = 7,
    NfProto = 15,
    L4Proto = 16,
}

/// <summary>meta: loads a packet property into a register, or (with <see cref="SetFrom"/>) sets one from a register.</summary>
public sealed record NftMeta(NftMetaKey Key, uint Register = NftRegister.R0, bool SetFrom = false) : NftExpression
{
    internal override string Name => "meta";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(2, (uint)Key);
        e.Be32(SetFrom ? (ushort)3 : (ushort)1, Register);
    }
}

public enum NftPayloadBase : uint
{
    LinkLayer = 0,
    Network = 1,
    Transport = 2,
}

/// <summary>payload: loads <see cref="Length"/> bytes at <see cref="Offset"/> of a header into a register.</summary>
public sealed record NftPayload(NftPayloadBase Base, uint Offset, uint Length, uint Register = NftRegister.R0) : NftExpression
{
    internal override string Name => "payload";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, Register);
        e.Be32(2, (uint)Base);
        e.Be32(3, Offset);
        e.Be32(4, Length);
    }

    public static NftPayload Ipv4Source(uint register = NftRegister.R0) => new(NftPayloadBase.Network, 12, 4, register);

    public static NftPayload Ipv4Destination(uint register = NftRegister.R0) => new(NftPayloadBase.Network, 16, 4, register);

    /// <summary>TCP/UDP/SCTP destination port (transport header offset 2); check the l4 protocol first.</summary>
    public static NftPayload DestinationPort(uint register = NftRegister.R0) => new(NftPayloadBase.Transport, 2, 2, register);

    /// <summary>ICMP type (first byte of the ICMP header).</summary>
    public static NftPayload IcmpType(uint register = NftRegister.R0) => new(NftPayloadBase.Transport, 0, 1, register);
}

public enum NftCmpOp : uint
{
    Eq = 0,
    Neq = 1,
    Lt = 2,
    Lte = 3,
    Gt = 4,
    Gte = 5,
}

/// <summary>cmp: compares a register with constant bytes; a mismatch ends the rule (NFT_BREAK).</summary>
public sealed record NftCmp(NftCmpOp Op, byte[] Data, uint Register = NftRegister.R0) : NftExpression
{
    internal override string Name => "cmp";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, Register);
        e.Be32(2, (uint)Op);
        e.Data(3, Data);
    }

    public static NftCmp Equal(byte[] data, uint register = NftRegister.R0) => new(NftCmpOp.Eq, data, register);

    public static NftCmp NotEqual(byte[] data, uint register = NftRegister.R0) => new(NftCmpOp.Neq, data, register);
}

/// <summary>bitwise: register = (register AND mask) XOR xor, e.g. a prefix mask before comparing a network.</summary>
public sealed record NftBitwise(byte[] Mask, byte[] Xor, uint Source = NftRegister.R0, uint Destination = NftRegister.R0) : NftExpression
{
    internal override string Name => "bitwise";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, Source);
        e.Be32(2, Destination);
        e.Be32(3, (uint)Mask.Length);
        e.Data(4, Mask);
        e.Data(5, Xor);
    }
}

/// <summary>lookup: is the register's value in a set; with <see cref="DestinationRegister"/> = verdict it is a verdict-map jump.</summary>
public sealed record NftLookup(string Set, uint SourceRegister = NftRegister.R0, uint? DestinationRegister = null, bool Invert = false) : NftExpression
{
    internal override string Name => "lookup";

    internal override void EncodeData(NftEncoder e)
    {
        e.String(1, Set);
        e.Be32(2, SourceRegister);
        if (DestinationRegister is { } d)
        {
            e.Be32(3, d);
        }

        if (Invert)
        {
            e.Be32(5, 1);
        }
    }
}

/// <summary>immediate: sets the verdict (accept, drop, jump, goto, return) or loads constant data into a register.</summary>
public sealed record NftImmediate : NftExpression
{
    public NftImmediate(NftVerdict verdict) => Verdict = verdict;

    public NftImmediate(byte[] data, uint register)
    {
        Data = data;
        Register = register;
    }

    public NftVerdict? Verdict { get; }

    public byte[]? Data { get; }

    public uint Register { get; }

    internal override string Name => "immediate";

    internal override void EncodeData(NftEncoder e)
    {
        if (Verdict is { } verdict)
        {
            e.Be32(1, NftRegister.Verdict);
            e.Verdict(2, verdict);
        }
        else
        {
            e.Be32(1, Register);
            e.Data(2, Data!);
        }
    }
}

/// <summary>counter: packets and bytes that reached it.</summary>
public sealed record NftCounter : NftExpression
{
    internal override string Name => "counter";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be64(1, 0);
        e.Be64(2, 0);
    }
}

/// <summary>log: hands the packet to NFLOG group <see cref="Group"/> with <see cref="Prefix"/> (at most 127 bytes).</summary>
public sealed record NftLog(ushort Group, string Prefix) : NftExpression
{
    internal const int MaxPrefixBytes = 127;

    internal override string Name => "log";

    internal override void EncodeData(NftEncoder e)
    {
        if (Encoding.UTF8.GetByteCount(Prefix) > MaxPrefixBytes)
        {
            throw new ArgumentException($"Log prefix '{Prefix}' is longer than {MaxPrefixBytes} bytes.", nameof(Prefix));
        }

        e.Be16(1, Group);
        e.String(2, Prefix);
    }
}

public enum NftLimitType : uint
{
    Packets = 0,
    Bytes = 1,
}

/// <summary>limit: matches while the token bucket has room (<see cref="Rate"/> per <see cref="UnitSeconds"/>), else ends the rule.</summary>
public sealed record NftLimit(ulong Rate, ulong UnitSeconds, uint Burst, NftLimitType Type, bool Invert = false) : NftExpression
{
    internal override string Name => "limit";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be64(1, Rate);
        e.Be64(2, UnitSeconds);
        e.Be32(3, Burst);
        e.Be32(4, (uint)Type);
        if (Invert)
        {
            e.Be32(5, 1);
        }
    }
}

/// <summary>Connection tracking state bits as `ct state` loads them (host byte order).</summary>
[Flags]
public enum NftCtState : uint
{
    Invalid = 1,
    Established = 2,
    Related = 4,
    New = 8,
    Untracked = 64,
}

/// <summary>ct: loads a conntrack key (here: state) into a register.</summary>
public sealed record NftCtStateLoad(uint Register = NftRegister.R0) : NftExpression
{
    internal override string Name => "ct";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, Register);
        e.Be32(2, 0);
    }
}

public enum NftRejectType : uint
{
    IcmpUnreachable = 0,
    TcpReset = 1,
    IcmpxUnreachable = 2,
}

/// <summary>reject: answers the packet (TCP reset or ICMP unreachable) and drops it.</summary>
public sealed record NftReject(NftRejectType Type = NftRejectType.IcmpxUnreachable, byte Code = 3) : NftExpression
{
    internal override string Name => "reject";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, (uint)Type);
        e.U8(2, Code);
    }
}

/// <summary>fib: looks the destination up in the routing table; here its address type (RTN_LOCAL = 2 is the host itself).</summary>
public sealed record NftFibDestinationType(uint Register = NftRegister.R0) : NftExpression
{
    public const uint RtnLocal = 2;

    internal override string Name => "fib";

    internal override void EncodeData(NftEncoder e)
    {
        e.Be32(1, Register);
        e.Be32(2, 3); // NFT_FIB_RESULT_ADDRTYPE
        e.Be32(3, 2); // NFTA_FIB_F_DADDR
    }
}

/// <summary>Building blocks for the byte values that cmp, bitwise and set elements compare.</summary>
public static class NftValue
{
    /// <summary>An interface name as meta iifname/oifname loads it: 16 bytes, NUL padded.</summary>
    public static byte[] InterfaceName(string name)
    {
        var bytes = new byte[16];
        if (Encoding.UTF8.GetBytes(name, bytes) > 15)
        {
            throw new ArgumentException($"Interface name '{name}' is longer than 15 bytes.", nameof(name));
        }

        return bytes;
    }

    public static byte[] Ipv4(IPAddress address)
    {
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"Address {address} is not IPv4.", nameof(address));
        }

        return address.GetAddressBytes();
    }

    /// <summary>A network-order 16-bit value, e.g. a port.</summary>
    public static byte[] Be16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>A host-order 32-bit value, as meta and ct keys load them.</summary>
    public static byte[] HostU32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return bytes;
    }

    public static byte[] U8(byte value) => [value];

    public static byte[] PrefixMask(int prefixLength)
    {
        var mask = prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength);
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, mask);
        return bytes;
    }
}
