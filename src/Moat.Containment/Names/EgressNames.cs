namespace Moat.Containment.Names;

/// <summary>What the egress resolver does with a name.</summary>
public enum NameDecision
{
    /// <summary>No allow entry matches: refused (REFUSED), logged.</summary>
    NotListed,

    /// <summary>A deny entry matches: refused whatever allows it.</summary>
    Denied,

    /// <summary>Answered, and its addresses put in the sandbox's name set.</summary>
    Allowed,
}

/// <summary>
/// Allow and deny lists of names for a sandbox (or a trust level, or a client, before they are combined). A deny entry
/// wins over every allow entry, wherever each came from; a name no allow entry matches is refused.
/// </summary>
public sealed record EgressNames(IReadOnlyList<NamePattern> Allow, IReadOnlyList<NamePattern> Deny)
{
    /// <summary>Most entries one list may hold (policy or sandbox); each lookup walks the lists.</summary>
    public const int MaxEntries = 1024;

    public static EgressNames None { get; } = new([], []);

    /// <summary>Names a sandbox may never resolve through Moat: public DNS-over-HTTPS services (a way around the resolver).</summary>
    public static IReadOnlyList<NamePattern> DohServices { get; } =
        new[]
        {
            "dns.google", "dns.google.com", "cloudflare-dns.com", "*.cloudflare-dns.com", "one.one.one.one", "dns.quad9.net",
            "doh.opendns.com", "dns.adguard.com", "dns.adguard-dns.com", "doh.cleanbrowsing.org", "dns.nextdns.io",
            "mozilla.cloudflare-dns.com", "doh.mullvad.net", "dns.alidns.com", "doh.pub",
        }.Select(NamePattern.Parse).ToList();

    public bool IsEmpty => Allow.Count == 0 && Deny.Count == 0;

    public NameDecision Decide(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (Deny.Any(p => p.Matches(name)) || DohServices.Any(p => p.Matches(name)))
        {
            return NameDecision.Denied;
        }

        return Allow.Any(p => p.Matches(name)) ? NameDecision.Allowed : NameDecision.NotListed;
    }

    /// <summary>Both lists together (duplicates once), e.g. a trust level's, a client's and a sandbox's own.</summary>
    public EgressNames With(EgressNames other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new([.. Allow.Concat(other.Allow).DistinctBy(p => p.Text)], [.. Deny.Concat(other.Deny).DistinctBy(p => p.Text)]);
    }

    /// <summary>Parses both lists; one sentence naming the bad entry, or the list that is too long, otherwise.</summary>
    public static EgressNames Parse(IEnumerable<string> allow, IEnumerable<string> deny)
    {
        ArgumentNullException.ThrowIfNull(allow);
        ArgumentNullException.ThrowIfNull(deny);
        var a = allow.Select(NamePattern.Parse).DistinctBy(p => p.Text).ToList();
        var d = deny.Select(NamePattern.Parse).DistinctBy(p => p.Text).ToList();
        if (a.Count > MaxEntries || d.Count > MaxEntries)
        {
            throw new ContainmentInputException($"a list of names holds {Math.Max(a.Count, d.Count)} entries; at most {MaxEntries} are allowed (use a wildcard such as *.example.org).");
        }

        return new(a, d);
    }
}
