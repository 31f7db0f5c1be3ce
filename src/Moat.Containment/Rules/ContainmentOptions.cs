using System.Net;

namespace Moat.Containment.Rules;

/// <summary>Host facts the rules need: where they live, where refusals are logged, and what counts as the host's own.</summary>
public sealed record ContainmentOptions
{
    /// <summary>Name of the `inet` table that holds every containment rule.</summary>
    public string Table { get; init; } = "moat";

    /// <summary>NFLOG group refusals go to, with prefix "moat &lt;sandboxId&gt; &lt;ruleId&gt;" (read by the flow log).</summary>
    public ushort LogGroup { get; init; } = 7;

    /// <summary>The host's own addresses; non-trusted sandboxes may not reach them.</summary>
    public IReadOnlyList<IPAddress> HostAddresses { get; init; } = [];

    /// <summary>The host's LAN prefixes and its sandbox address pool; non-trusted sandboxes may not reach them unless granted.</summary>
    public IReadOnlyList<IPNetwork> LanPrefixes { get; init; } = [];

    /// <summary>The prefix sandbox addresses come from (also one of <see cref="LanPrefixes"/>): no client address may lie in it.</summary>
    public IPNetwork? SandboxPool { get; init; }

    /// <summary>Netfilter hook priority of the table's base chains (0 = filter).</summary>
    public int Priority { get; init; }

    /// <summary>
    /// Where the host's egress resolver listens (the sandboxes' gateway address); null: no resolver, and DNS is
    /// treated like any other traffic. When set, a non-trusted sandbox's DNS (udp/tcp 53), DoT and DoQ (853) and
    /// HTTPS to <see cref="DohAddresses"/> go nowhere else, and addresses of names it resolved are accepted.
    /// </summary>
    public IPAddress? Resolver { get; init; }

    /// <summary>The resolver's port (53; the sandbox's stub resolver knows no other).</summary>
    public ushort ResolverPort { get; init; } = 53;

    /// <summary>Addresses of public DNS-over-HTTPS services; with a <see cref="Resolver"/>, non-trusted sandboxes may not send to their port 443.</summary>
    public IReadOnlyList<IPNetwork> DohAddresses { get; init; } = Names.DohEndpoints.Addresses;

    public static ContainmentOptions Default { get; } = new();

    /// <summary>Destinations no non-trusted sandbox may reach whatever it is granted: "this" network, loopback, link-local, multicast and the host.</summary>
    public IEnumerable<IPNetwork> FixedDeny() =>
        new[] { "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4" }.Select(IPNetwork.Parse)
            .Concat(HostAddresses.Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).Select(a => new IPNetwork(a, 32)));
}
