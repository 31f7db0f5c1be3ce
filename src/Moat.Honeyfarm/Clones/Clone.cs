using System.Net;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

namespace Moat.Honeyfarm.Clones;

/// <summary>
/// One honeyfarm machine: a network namespace with its services already listening, linked to the gateway's
/// namespace by a veth pair. In the pool it has no address; <see cref="Bind"/> gives it the dark address it was
/// claimed for, inside one universe's routing table.
/// </summary>
public sealed class Clone : IAsyncDisposable
{
    private readonly SandboxLink _link;
    private readonly RtNetlink _inside;
    private readonly int _insideIndex;
    private readonly ICloneServices _services;
    private RuleSpec? _rule;
    private RouteSpec? _route;

    private Clone(SandboxLink link, RtNetlink inside, int insideIndex, CloneIdentity identity, Personality personality, ICloneServices services)
    {
        Personality = personality;
        _link = link;
        _inside = inside;
        _insideIndex = insideIndex;
        Identity = identity;
        _services = services;
    }

    public CloneIdentity Identity { get; }

    /// <summary>The services it offers.</summary>
    public Personality Personality { get; }

    /// <summary>The clone's namespace name (/run/netns/NAME).</summary>
    public string Name => _link.Name;

    /// <summary>The gateway-side end of the clone's link.</summary>
    public string HostInterface => _link.HostInterface;

    public IPAddress? Address { get; private set; }

    public int? Universe { get; private set; }

    /// <summary>When it was bound (timestamp of the gateway's TimeProvider).</summary>
    public long BoundAt { get; internal set; }

    /// <summary>Last time the gateway saw its link move packets (timestamp).</summary>
    internal long LastActivity { get; set; }

    internal long LastPacketCount { get; set; }

    /// <summary>Connections and datagrams its services received (-1 when its services cannot count them).</summary>
    public long Contacts => _services.Contacts;

    /// <summary>How its services run.</summary>
    public string Kind => _services.Kind;

    internal Moat.Linux.Namespaces.NetworkNamespace Namespace => _link.Namespace;

    internal static async Task<Clone> PrepareAsync(RtNetlink gateway, string name, string hostInterface, Personality personality, CloneIdentity identity, CloneServicesFactory services, CancellationToken cancellationToken)
    {
        // The clone's route lives in its universe's table (chosen by a rule on its link), where arp_filter's lookup of the
        // main table does not look; its ARP is taken as is (the gateway's own namespace holds nothing but the farm).
        var link = SandboxLink.Prepare(gateway, name, hostInterface, new SandboxLinkOptions { GatewayOnHost = true, ArpOnlyFromItsAddress = false });
        RtNetlink? inside = null;
        try
        {
            // One SYN-ACK per SYN: the kernel's retransmissions of an unanswered SYN-ACK (five by default) would make every
            // clone a sixfold reflector for spoofed SYNs. A real client whose SYN-ACK was lost resends its SYN and gets another.
            Moat.Linux.Namespaces.Sysctl.Write(link.Namespace, "net.ipv4.tcp_synack_retries", "0");
            inside = RtNetlink.OpenIn(link.Namespace);
            var index = inside.GetLinkIndex(SandboxLinkOptions.Default.SandboxInterface)
                ?? throw new HoneyfarmException($"Clone {name} has no {SandboxLinkOptions.Default.SandboxInterface} right after it was prepared.");
            Clone? clone = null;
            var started = await services(link.Namespace, name, personality, identity, () => clone?.Describe() ?? Describe(identity, null, null), cancellationToken).ConfigureAwait(false);
            clone = new Clone(link, inside, index, identity, personality, started);
            return clone;
        }
        catch
        {
            inside?.Dispose();
            link.Destroy();
            throw;
        }
    }

    /// <summary>What the clone says about itself in every greeting.</summary>
    public string Describe() => Describe(Identity, Universe, Address);

    private static string Describe(CloneIdentity identity, int? universe, IPAddress? address) =>
        $"host={identity.HostName} machine-id={identity.MachineId} universe={universe} address={address}";

    /// <summary>
    /// Gives the clone ADDRESS: inside, ADDRESS/32 on eth0 and a default route through the link; in the gateway,
    /// ADDRESS/32 to the link in the universe's table and a rule sending everything from the link to that table.
    /// </summary>
    internal void Bind(RtNetlink gateway, int universe, uint table, IPAddress address, uint rulePriority)
    {
        var via = SandboxLinkOptions.Default.Gateway;
        _inside.Execute(new NetlinkBatch()
            .AddAddress(_insideIndex, address, 32)
            .ReplaceRoute(new RouteSpec(new IPNetwork(via, 32), _insideIndex) { Scope = RouteScope.Link })
            .ReplaceRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), _insideIndex) { Gateway = via, OnLink = true }));
        var hostIndex = gateway.GetLinkIndex(HostInterface) ?? throw new HoneyfarmException($"Clone link {HostInterface} vanished before its claim.");
        var route = new RouteSpec(new IPNetwork(address, 32), hostIndex) { Scope = RouteScope.Link, Table = table };
        var rule = new RuleSpec(rulePriority, table) { InputInterface = HostInterface };
        gateway.Execute(new NetlinkBatch().ReplaceRoute(route).AddRule(rule));
        _route = route;
        _rule = rule;
        Address = address;
        Universe = universe;
        _services.Bound(Describe());
    }

    /// <summary>
    /// Stops its services (returning the clone's account when its state changed and it is kept), removes its rule and
    /// route from the gateway and frees its names at once (the kernel reaps the rest).
    /// </summary>
    internal async ValueTask<KeptClone?> RetireAsync(RtNetlink gateway, bool attemptedOutbound, CancellationToken cancellationToken)
    {
        // First off the network (a packet meanwhile finds no clone rather than a dying one), then its services.
        if (_rule is { } rule)
        {
            gateway.DeleteRule(rule);
        }

        if (_route is { } route)
        {
            gateway.DeleteRoute(route);
        }

        KeptClone? kept = null;
        Exception? failed = null;
        try
        {
            kept = await _services.RetireAsync(Describe(), attemptedOutbound, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failed = e; // its network is taken away all the same
        }
        finally
        {
            await _services.DisposeAsync().ConfigureAwait(false);
        }

        _inside.Dispose();
        _link.Retire();
        return failed is null ? kept : throw new HoneyfarmException($"Clone {Name}'s services could not be retired cleanly: {failed.Message}", failed);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync().ConfigureAwait(false);
        _inside.Dispose();
        _link.Destroy();
    }
}
