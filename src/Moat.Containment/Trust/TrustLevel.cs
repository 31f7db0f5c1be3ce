namespace Moat.Containment.Trust;

/// <summary>How far a host trusts a client (WASCo section 3); higher values are more trusted.</summary>
public enum TrustLevel
{
    /// <summary>Only the client's own address, its tunnel and nodes opened by an authorization certificate.</summary>
    Untrusted = 0,

    /// <summary>What the administrator's policy allows (prefixes, ports, protocols, rates), every flow logged.</summary>
    SemiTrusted = 1,

    /// <summary>Any destination.</summary>
    Trusted = 2,
}

public static class TrustLevels
{
    public const string Names = "trusted, semi-trusted or untrusted";

    public static string ToName(this TrustLevel level) => level switch
    {
        TrustLevel.Trusted => "trusted",
        TrustLevel.SemiTrusted => "semi-trusted",
        _ => "untrusted",
    };

    public static bool TryParse(string? text, out TrustLevel level)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "trusted":
                level = TrustLevel.Trusted;
                return true;
            case "semi-trusted" or "semitrusted" or "semi":
                level = TrustLevel.SemiTrusted;
                return true;
            case "untrusted":
                level = TrustLevel.Untrusted;
                return true;
            default:
                level = TrustLevel.Untrusted;
                return false;
        }
    }

    public static TrustLevel Parse(string text) =>
        TryParse(text, out var level) ? level : throw new ContainmentInputException($"Trust level '{text}' is not known; use {Names}.");
}
