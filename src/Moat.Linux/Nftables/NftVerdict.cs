namespace Moat.Linux.Nftables;

/// <summary>What a rule, a chain policy or a verdict-map element does with a packet.</summary>
public readonly record struct NftVerdict(NftVerdictKind Kind, string? Chain = null)
{
    public static NftVerdict Accept => new(NftVerdictKind.Accept);

    public static NftVerdict Drop => new(NftVerdictKind.Drop);

    public static NftVerdict Return => new(NftVerdictKind.Return);

    public static NftVerdict Continue => new(NftVerdictKind.Continue);

    public static NftVerdict Jump(string chain) => new(NftVerdictKind.Jump, chain);

    public static NftVerdict Goto(string chain) => new(NftVerdictKind.Goto, chain);

    /// <summary>The kernel's verdict code (NF_DROP 0, NF_ACCEPT 1, NFT_CONTINUE -1, NFT_JUMP -3, NFT_GOTO -4, NFT_RETURN -5).</summary>
    internal int Code => Kind switch
    {
        NftVerdictKind.Drop => 0,
        NftVerdictKind.Accept => 1,
        NftVerdictKind.Continue => -1,
        NftVerdictKind.Jump => -3,
        NftVerdictKind.Goto => -4,
        NftVerdictKind.Return => -5,
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "Unknown verdict."),
    };

    public override string ToString() => Chain is null ? Kind.ToString().ToLowerInvariant() : $"{Kind.ToString().ToLowerInvariant()} {Chain}";
}

public enum NftVerdictKind
{
    Drop,
    Accept,
    Continue,
    Jump,
    Goto,
    Return,
}
