namespace Moat.Xmpp.Client;

/// <summary>An XMPP address local@domain/resource (RFC 7622), compared ordinally after lower-casing local and domain.</summary>
public sealed record Jid(string? Local, string Domain, string? Resource)
{
    public Jid Bare => Resource is null ? this : this with { Resource = null };

    public static Jid Parse(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        string? resource = null;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            resource = text[(slash + 1)..];
            text = text[..slash];
        }

        string? local = null;
        int at = text.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            local = text[..at].ToLowerInvariant();
            text = text[(at + 1)..];
        }

        if (text.Length == 0)
        {
            throw new FormatException($"'{text}' is not a JID: expected local@domain/resource with a non-empty domain.");
        }

        return new Jid(local, text.ToLowerInvariant(), resource);
    }

    public override string ToString() =>
        (Local is null ? string.Empty : Local + "@") + Domain + (Resource is null ? string.Empty : "/" + Resource);
}
