using System.Net;
using Moat.Containment.Trust;

namespace Moat.Containment.Policy;

/// <summary>
/// The host administrator's containment policy: each client's trust level, the default for clients not listed, and
/// what semi-trusted sandboxes may reach. Read from YAML by <see cref="PolicyParser"/>.
/// </summary>
public sealed record AdminPolicy
{
    /// <summary>Trust for a client the policy does not name.</summary>
    public TrustLevel DefaultTrust { get; init; } = TrustLevel.Untrusted;

    /// <summary>Trust for a remote client (<see cref="IsRemote"/>) the policy does not name.</summary>
    public TrustLevel RemoteDefaultTrust { get; init; } = TrustLevel.Untrusted;

    /// <summary>Quota per trust level; a level not listed, or a field left out, takes <see cref="ClientQuota.DefaultFor"/>.</summary>
    public IReadOnlyDictionary<TrustLevel, ClientQuota> Quotas { get; init; } = new Dictionary<TrustLevel, ClientQuota>();

    /// <summary>Quota per client, over its trust level's; compared ignoring case (JIDs are).</summary>
    public IReadOnlyDictionary<string, ClientQuota> ClientQuotas { get; init; } = new Dictionary<string, ClientQuota>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Trust per client (key fingerprint or name), compared case-sensitively.</summary>
    public IReadOnlyDictionary<string, TrustLevel> Clients { get; init; } = new Dictionary<string, TrustLevel>();

    /// <summary>
    /// Addresses the administrator binds to a client (its own machines). Such an address may be given as the client's
    /// address even when it lies in the host's LAN, and a non-administrator on the fabric may name only these.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<IPNetwork>> ClientAddresses { get; init; } = new Dictionary<string, IReadOnlyList<IPNetwork>>();

    /// <summary>What semi-trusted sandboxes may reach, in order; anything else is refused and logged.</summary>
    public IReadOnlyList<AllowRule> Allow { get; init; } = [];

    /// <summary>Rate limits per trust level (HTB shaping); a level not listed is not shaped.</summary>
    public IReadOnlyDictionary<TrustLevel, Shaping.SandboxRates> Rates { get; init; } = new Dictionary<TrustLevel, Shaping.SandboxRates>();

    /// <summary>Names sandboxes of each trust level may resolve and reach through the host's egress resolver ('names').</summary>
    public IReadOnlyDictionary<TrustLevel, Names.EgressNames> LevelNames { get; init; } = new Dictionary<TrustLevel, Names.EgressNames>();

    /// <summary>Names per client, added to its trust level's ('names.clients').</summary>
    public IReadOnlyDictionary<string, Names.EgressNames> ClientNames { get; init; } = new Dictionary<string, Names.EgressNames>();

    /// <summary>Where this policy came from (a file path, or "built-in").</summary>
    public string Source { get; init; } = "built-in";

    /// <summary>No policy file: every client untrusted, nothing allowed beyond the client itself.</summary>
    public static AdminPolicy Default { get; } = new();

    public TrustLevel TrustFor(string client) =>
        Clients.TryGetValue(client, out var level) ? level : IsRemote(client) ? RemoteDefaultTrust : DefaultTrust;

    /// <summary>Whether a client is remote: named by a JID (user@domain), as every requester over the fabric is.</summary>
    public static bool IsRemote(string client) => client?.Contains('@', StringComparison.Ordinal) ?? false;

    /// <summary>What <paramref name="client"/> may hold at once at <paramref name="trust"/>: its own quota over its level's over the default.</summary>
    public ClientQuota QuotaFor(string client, TrustLevel trust)
    {
        var level = (Quotas.TryGetValue(trust, out var q) ? q : new ClientQuota()).Over(ClientQuota.DefaultFor(trust));
        return ClientQuotas.TryGetValue(client, out var own) ? own.Over(level) : level;
    }

    /// <summary>The names <paramref name="client"/>'s sandboxes at <paramref name="trust"/> may resolve: its level's and its own.</summary>
    public Names.EgressNames NamesFor(string client, TrustLevel trust) =>
        (LevelNames.TryGetValue(trust, out var level) ? level : Names.EgressNames.None)
            .With(ClientNames.TryGetValue(client, out var own) ? own : Names.EgressNames.None);

    /// <summary>Whether the administrator bound <paramref name="address"/> to <paramref name="client"/> ('client-addresses').</summary>
    public bool Binds(string client, IPAddress address) =>
        ClientAddresses.TryGetValue(client, out var prefixes) && prefixes.Any(p => p.Contains(address));

    /// <summary>The rates a sandbox of this trust level is shaped to, or null when the level is not shaped.</summary>
    public Shaping.SandboxRates? RatesFor(TrustLevel trust) => Rates.TryGetValue(trust, out var rates) ? rates : null;
}

/// <summary>Transport protocols a policy can name.</summary>
public enum PolicyProtocol
{
    Icmp = 1,
    Tcp = 6,
    Udp = 17,
}

/// <summary>An inclusive range of ports; a single port has <see cref="First"/> = <see cref="Last"/>.</summary>
public readonly record struct PortRange(ushort First, ushort Last)
{
    public bool Contains(int port) => port >= First && port <= Last;

    public override string ToString() => First == Last ? First.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{First}-{Last}";
}

/// <summary>
/// One allowance: destinations (prefixes) a semi-trusted sandbox may reach, with which protocols (none listed: any) and
/// ports (none listed: any; ports restrict tcp and udp only), at an optional rate. SMTP (tcp/25) stays closed unless
/// <see cref="Ports"/> names 25.
/// </summary>
public sealed record AllowRule(
    string Name,
    IReadOnlyList<IPNetwork> Prefixes,
    IReadOnlyList<PolicyProtocol> Protocols,
    IReadOnlyList<PortRange> Ports,
    long? RateBytesPerSecond = null)
{
    public const int SmtpPort = 25;

    /// <summary>Whether this rule names SMTP explicitly, which is what opens port 25.</summary>
    public bool OpensSmtp => Ports.Any(p => p.Contains(SmtpPort)) && (Protocols.Count == 0 || Protocols.Contains(PolicyProtocol.Tcp));

    /// <summary>
    /// Whether a packet to <paramref name="destination"/> with this protocol and port is allowed (port 0 for ICMP).
    /// Ports restrict tcp and udp only; with ports but no protocols the rule means tcp and udp.
    /// </summary>
    public bool Allows(IPAddress destination, PolicyProtocol protocol, int port)
    {
        if (!Prefixes.Any(p => p.Contains(destination)))
        {
            return false;
        }

        var protocols = Protocols.Count > 0 ? Protocols : Ports.Count > 0 ? [PolicyProtocol.Tcp, PolicyProtocol.Udp] : null;
        if (protocols is not null && !protocols.Contains(protocol))
        {
            return false;
        }

        if (protocol == PolicyProtocol.Icmp)
        {
            return true;
        }

        return Ports.Count == 0 ? protocol != PolicyProtocol.Tcp || port != SmtpPort : Ports.Any(p => p.Contains(port));
    }
}
