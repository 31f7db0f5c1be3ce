using System.Buffers.Binary;
using Moat.Linux.Netlink;

namespace Moat.Linux.Nftables;

/// <summary>nf_tables attributes on top of <see cref="NetlinkWriter"/>: integers are big-endian, nests carry NLA_F_NESTED.</summary>
internal readonly struct NftEncoder(NetlinkWriter writer)
{
    public NetlinkWriter Writer => writer;

    public void Be32(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, value);
        writer.PutAttribute(type, v);
    }

    public void Be16(ushort type, ushort value)
    {
        Span<byte> v = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(v, value);
        writer.PutAttribute(type, v);
    }

    public void Be64(ushort type, ulong value)
    {
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(v, value);
        writer.PutAttribute(type, v);
    }

    public void U8(ushort type, byte value) => writer.PutAttribute(type, [value]);

    public void String(ushort type, string value) => writer.PutString(type, value);

    public void Bytes(ushort type, ReadOnlySpan<byte> value) => writer.PutAttribute(type, value);

    public int Begin(ushort type) => writer.BeginNested((ushort)(type | Nft.NLA_F_NESTED));

    public void End(int start) => writer.EndNested(start);

    /// <summary>struct nft_data holding raw bytes (NFTA_DATA_VALUE) inside attribute <paramref name="type"/>.</summary>
    public void Data(ushort type, ReadOnlySpan<byte> value)
    {
        var outer = Begin(type);
        writer.PutAttribute(Nft.NFTA_DATA_VALUE, value);
        End(outer);
    }

    /// <summary>struct nft_data holding a verdict (NFTA_DATA_VERDICT) inside attribute <paramref name="type"/>.</summary>
    public void Verdict(ushort type, NftVerdict verdict)
    {
        var outer = Begin(type);
        var inner = Begin(Nft.NFTA_DATA_VERDICT);
        Be32(Nft.NFTA_VERDICT_CODE, unchecked((uint)verdict.Code));
        if (verdict.Chain is not null)
        {
            String(Nft.NFTA_VERDICT_CHAIN, verdict.Chain);
        }

        End(inner);
        End(outer);
    }
}
