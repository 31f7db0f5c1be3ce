using System.Net;
using System.Net.Sockets;

namespace Moat.Host.Network;

/// <summary>The IPv4 prefix a host hands its sandboxes' /32 addresses from.</summary>
public sealed class AddressPool
{
    private readonly uint _first;
    private readonly uint _last;
    private readonly Lock _gate = new();
    private uint _next;

    public AddressPool(string prefix)
    {
        if (!IPNetwork.TryParse(prefix, out var network) || network.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new InvalidRequestException($"address pool '{prefix}' is not an IPv4 prefix such as 198.18.0.0/16.");
        }

        if (network.PrefixLength is < 8 or > 30)
        {
            throw new InvalidRequestException($"address pool '{prefix}' must have a prefix length from /8 to /30.");
        }

        Prefix = network;
        var b = ToUInt(network.BaseAddress);
        var size = 1u << (32 - network.PrefixLength);
        // The prefix's own network and broadcast addresses are never handed out, so the pool stays routable as a whole.
        _first = b + 1;
        _last = b + size - 2;
    }

    public IPNetwork Prefix { get; }

    public int Capacity => (int)(_last - _first + 1);

    /// <summary>The lowest address not in <paramref name="used"/>, or an error naming the pool when it is exhausted.</summary>
    /// <remarks>Walks every address in use: for a one-off choice; sandboxes take theirs by <see cref="Allocate(Func{IPAddress, bool})"/>.</remarks>
    public IPAddress Allocate(IReadOnlySet<string> used)
    {
        for (var a = _first; a <= _last; a++)
        {
            var ip = FromUInt(a);
            if (!used.Contains(ip.ToString()))
            {
                return ip;
            }
        }

        throw new ResourceExhaustedException(
            $"address pool {Prefix} is exhausted ({Capacity} addresses in use); destroy sandboxes or give the host a larger --pool.");
    }

    /// <summary>
    /// The next address after the last one this pool handed out (wrapping at the end of the prefix) for which
    /// <paramref name="isUsed"/> says no, or an error naming the pool when every address is in use. Each call asks about
    /// one address, or a few more where the pool is nearly full, however many sandboxes hold one: a free address is not
    /// searched for from the start of the prefix past every address in use. Only the first call after the process
    /// starts may walk the addresses already held. Freed addresses are reused once the cursor comes round to them,
    /// which also keeps a just-freed address (and the flows logged under it) from passing at once to another sandbox.
    /// </summary>
    public IPAddress Allocate(Func<IPAddress, bool> isUsed)
    {
        ArgumentNullException.ThrowIfNull(isUsed);
        lock (_gate)
        {
            var start = _next is var n && n >= _first && n <= _last ? n : _first;
            var a = start;
            do
            {
                var ip = FromUInt(a);
                a = a == _last ? _first : a + 1;
                if (!isUsed(ip))
                {
                    _next = a;
                    return ip;
                }
            }
            while (a != start);
        }

        throw new ResourceExhaustedException(
            $"address pool {Prefix} is exhausted ({Capacity} addresses in use); destroy sandboxes or give the host a larger --pool.");
    }

    public bool Contains(IPAddress address) => Prefix.Contains(address);

    private static uint ToUInt(IPAddress ip)
    {
        Span<byte> b = stackalloc byte[4];
        ip.TryWriteBytes(b, out _);
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }

    private static IPAddress FromUInt(uint v) => new([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
}
