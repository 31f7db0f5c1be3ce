using System.Net;

namespace Moat.Containment.Resolver;

/// <summary>Settings of the host's egress resolver (`moat host --dns-upstream ADDR`).</summary>
public sealed record EgressResolverOptions
{
    /// <summary>Where sandboxes ask: their gateway address (on every host veth), port 53.</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Parse("169.254.1.1"), 53);

    /// <summary>The resolver the host forwards allowed names to.</summary>
    public required IPEndPoint Upstream { get; init; }

    /// <summary>Shortest life of a name's addresses in the sandbox's set (and of the TTL the sandbox is told).</summary>
    public TimeSpan MinTtl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest life of a name's addresses; a longer TTL is cut to it.</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long one upstream exchange (UDP, then TCP when truncated) may take before SERVFAIL.</summary>
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Queries one sandbox may make per second on average (a token bucket), beyond which it gets REFUSED.</summary>
    public int QueriesPerSecond { get; init; } = 50;

    /// <summary>The bucket's depth: a burst of queries at once.</summary>
    public int Burst { get; init; } = 200;

    /// <summary>Names (with their addresses) remembered per sandbox for live revocation; past it the oldest is forgotten (its set entries still expire by TTL).</summary>
    public int NamesPerSandbox { get; init; } = 65_536;

    /// <summary>TCP connections from sandboxes served at once; more wait in the listen queue.</summary>
    public int TcpConnections { get; init; } = 64;

    /// <summary>How long a sandbox's TCP connection may stay idle or take to send a query.</summary>
    public TimeSpan TcpIdle { get; init; } = TimeSpan.FromSeconds(10);

    public DnsTunnelOptions Tunnel { get; init; } = DnsTunnelOptions.Default;

    /// <summary>Refuses settings that cannot work, with one sentence.</summary>
    public void Validate()
    {
        if (Upstream.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || Upstream.Port == 0)
        {
            throw new ContainmentInputException($"DNS upstream '{Upstream}' is not an IPv4 address with a port; give one such as 198.18.2.53 or 198.18.2.53:53.");
        }

        if (MinTtl <= TimeSpan.Zero || MaxTtl < MinTtl || MaxTtl > TimeSpan.FromDays(7))
        {
            throw new ContainmentInputException($"DNS TTL bounds {MinTtl}..{MaxTtl} are not valid; the minimum must be above zero and at most the maximum, the maximum at most 7 days.");
        }

        if (QueriesPerSecond <= 0 || Burst <= 0)
        {
            throw new ContainmentInputException("DNS query rate and burst must be above zero.");
        }
    }

    /// <summary>Parses `--dns-upstream ADDR[:PORT]` (IPv4, port 53 when omitted); one sentence when it is not one.</summary>
    public static IPEndPoint ParseUpstream(string text)
    {
        if (IPEndPoint.TryParse(text ?? "", out var endpoint) && endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return endpoint.Port == 0 ? new IPEndPoint(endpoint.Address, 53) : endpoint;
        }

        throw new ContainmentInputException($"--dns-upstream '{text}' is not an IPv4 address with an optional port; give one such as 198.18.2.53 or 198.18.2.53:5353.");
    }
}
