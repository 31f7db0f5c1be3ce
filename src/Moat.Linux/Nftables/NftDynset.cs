namespace Moat.Linux.Nftables;

public enum NftDynsetOp : uint
{
    /// <summary>Add the key if absent (an element already there keeps its expiry).</summary>
    Add = 0,

    /// <summary>Add the key, or refresh its timeout when present.</summary>
    Update = 1,
}

/// <summary>
/// dynset: adds the key in <see cref="KeyRegister"/> (with registers after it for a concatenated key) to a set from the
/// packet path, with <see cref="Timeout"/>; the set needs <see cref="NftSetSpec.Timeout"/> and is bounded by its
/// <see cref="NftSetSpec.MaxElements"/>. When the set is full the add fails and the rule ends there (NFT_BREAK).
/// </summary>
public sealed record NftDynset(string Set, NftDynsetOp Op, uint KeyRegister = NftRegister.R0, TimeSpan? Timeout = null) : NftExpression
{
    private const ushort NftaDynsetSetName = 1, NftaDynsetOp = 3, NftaDynsetSregKey = 4, NftaDynsetTimeout = 6;

    internal override string Name => "dynset";

    internal override void EncodeData(NftEncoder e)
    {
        e.String(NftaDynsetSetName, Set);
        e.Be32(NftaDynsetOp, (uint)Op);
        e.Be32(NftaDynsetSregKey, KeyRegister);
        if (Timeout is { } timeout)
        {
            e.Be64(NftaDynsetTimeout, (ulong)timeout.TotalMilliseconds);
        }
    }
}
