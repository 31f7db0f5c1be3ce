using System.Text.RegularExpressions;

namespace Moat.Control;

/// <summary>What names and ids the API takes. A sandbox id (sb-…) and a name can never be confused: names may not start with "sb-".</summary>
public static partial class Names
{
    public const int MaxName = 40;

    public static readonly string[] TrustLevels = ["trusted", "semi-trusted", "untrusted"];

    public static bool IsSandboxId(string reference) => SandboxId().IsMatch(reference);

    public static string NewSandboxId() => "sb-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>Checks a sandbox name a client chose; one sentence when it is not valid.</summary>
    public static string SandboxName(string name) =>
        NamePattern().IsMatch(name) && !name.StartsWith("sb-", StringComparison.Ordinal)
            ? name
            : throw new ControlInputException(
                $"sandbox name '{Show(name)}' is not valid: use 1 to 36 lowercase letters, digits and '-', starting with a letter or digit, not starting with 'sb-' (that is how ids start).");

    /// <summary>Checks a client name; one sentence when it is not valid.</summary>
    public static string ClientName(string name) =>
        NamePattern().IsMatch(name)
            ? name
            : throw new ControlInputException($"client name '{Show(name)}' is not valid: use 1 to 36 lowercase letters, digits and '-', starting with a letter or digit.");

    public static string Trust(string trust) =>
        TrustLevels.Contains(trust)
            ? trust
            : throw new ControlInputException($"trust '{Show(trust)}' is not valid: use trusted, semi-trusted or untrusted.");

    /// <summary>A caller's text in a message: at most 64 characters, control characters escaped, so it forges no lines.</summary>
    public static string Show(string text)
    {
        var shown = text.Length > 64 ? text[..64] + "…" : text;
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }

    [GeneratedRegex("^sb-[0-9a-f]{16}\\z")]
    private static partial Regex SandboxId();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,35}\\z")]
    private static partial Regex NamePattern();
}
