using System.Net;
using System.Net.Sockets;
using Moat.Containment.Policy;

namespace Moat.Containment.Rules;

/// <summary>
/// Whether an address a tenant gives as its client's may be used. A client address is a claim by the tenant: it opens
/// a path (and, for an untrusted sandbox, a tunnel) to that address, so it may never name what the fixed deny set, the
/// LAN or the neighbour refusals close: "this" network, loopback, link-local (169.254.169.254 included), multicast,
/// reserved and broadcast, the host's own addresses, the sandbox pool (other sandboxes), or the host's LAN, unless the
/// administrator bound that LAN address to the client in the policy ('client-addresses').
/// </summary>
public static class ClientAddressCheck
{
    private const string Valid = "give the IPv4 address of the client's own machine outside this host's networks";

    private static readonly (IPNetwork Prefix, string What)[] Never =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "an unspecified address"),
        (IPNetwork.Parse("127.0.0.0/8"), "a loopback address"),
        (IPNetwork.Parse("169.254.0.0/16"), "a link-local address (the range of cloud metadata services)"),
        (IPNetwork.Parse("224.0.0.0/4"), "a multicast address"),
        (IPNetwork.Parse("240.0.0.0/4"), "a reserved or broadcast address"),
    ];

    /// <summary>One sentence saying why <paramref name="address"/> may not be <paramref name="client"/>'s address, or null when it may.</summary>
    /// <param name="policy">The administrator's policy (its LAN bindings); null: no address in the LAN is bound.</param>
    /// <param name="options">The host's own addresses and LAN; null: only the fixed classes and the pool are checked.</param>
    /// <param name="sandboxPool">The prefix sandbox addresses come from; null: <see cref="ContainmentOptions.SandboxPool"/>.</param>
    public static string? Refusal(IPAddress address, string client, AdminPolicy? policy, ContainmentOptions? options, IPNetwork? sandboxPool)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return $"client address '{address}' is not an IPv4 address; {Valid}.";
        }

        foreach (var (prefix, what) in Never)
        {
            if (prefix.Contains(address))
            {
                return $"client address '{address}' is {what}, which no sandbox may reach; {Valid}.";
            }
        }

        if ((sandboxPool ?? options?.SandboxPool) is { } pool && pool.Contains(address))
        {
            return $"client address '{address}' is in this host's sandbox pool {pool} (another sandbox); {Valid}.";
        }

        if (options is null)
        {
            return null;
        }

        if (options.HostAddresses.Contains(address))
        {
            return $"client address '{address}' is this host's own address; {Valid}.";
        }

        if (Containing(options.FixedDeny(), address) is { } denied)
        {
            return $"client address '{address}' is in {denied}, which no sandbox may reach; {Valid}.";
        }

        if (Containing(options.LanPrefixes, address) is { } lan && !(policy?.Binds(client, address) ?? false))
        {
            return $"client address '{address}' is in this host's network {lan}; {Valid}, or have the administrator bind it to client '{client}' under 'client-addresses' in the policy.";
        }

        return null;
    }

    private static IPNetwork? Containing(IEnumerable<IPNetwork> prefixes, IPAddress address) =>
        prefixes.Where(p => p.Contains(address)).Select(p => (IPNetwork?)p).FirstOrDefault();
}
