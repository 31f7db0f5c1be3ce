namespace Moat.Containment.Names;

/// <summary>
/// One entry of an allow or deny list of names: a name ("api.example.org", that name only) or a wildcard
/// ("*.example.org", every name under example.org but not example.org itself). Compared ignoring case.
/// </summary>
public sealed record NamePattern
{
    private NamePattern(string text, string suffix, bool wildcard)
    {
        Text = text;
        Suffix = suffix;
        Wildcard = wildcard;
    }

    /// <summary>The pattern as written, in lower case.</summary>
    public string Text { get; }

    public bool Wildcard { get; }

    /// <summary>The name, or for a wildcard ".example.org" (what a matching name ends with).</summary>
    private string Suffix { get; }

    /// <summary>Whether <paramref name="name"/> (dotted, lower case, no final dot) matches.</summary>
    public bool Matches(string name) =>
        Wildcard ? name.Length > Suffix.Length && name.EndsWith(Suffix, StringComparison.Ordinal) : name == Suffix;

    /// <summary>Parses a pattern; null and a reason (one sentence) when it is not one.</summary>
    public static NamePattern? TryParse(string? text, out string? reason)
    {
        reason = null;
        var name = (text ?? "").Trim().TrimEnd('.').ToLowerInvariant();
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
        var body = wildcard ? name[2..] : name;
        if (body.Length is 0 or > 253)
        {
            reason = $"'{Shown(text)}' is not a name; give a DNS name such as api.example.org or a wildcard such as *.example.org (at most 253 characters).";
            return null;
        }

        foreach (var label in body.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.Any(c => !(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_')))
            {
                reason = $"'{Shown(text)}' is not a name: each label must be 1 to 63 of a-z, 0-9, '-' or '_', and a wildcard may only be the whole first label ('*.example.org').";
                return null;
            }
        }

        return new NamePattern(name, wildcard ? "." + body : body, wildcard);
    }

    /// <summary>Parses a pattern or throws <see cref="ContainmentInputException"/> with the reason.</summary>
    public static NamePattern Parse(string text) =>
        TryParse(text, out var reason) ?? throw new ContainmentInputException(reason!);

    public override string ToString() => Text;

    /// <summary>The input as an error message may show it: control characters escaped (no forged log lines), at most 80 characters.</summary>
    private static string Shown(string? text)
    {
        var shown = string.Concat((text ?? "").Take(80).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return (text?.Length ?? 0) > 80 ? shown + "..." : shown;
    }
}
