using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Linux.Plumbing;

/// <summary>Choices for a sandbox's link that are the same for every sandbox on a host.</summary>
public sealed record SandboxLinkOptions
{
    public static SandboxLinkOptions Default { get; } = new();

    /// <summary>The sandbox-side interface name.</summary>
    public string SandboxInterface { get; init; } = "eth0";

    /// <summary>The address the sandbox uses as its default gateway; the host end answers ARP for it (proxy_arp).</summary>
    public IPAddress Gateway { get; init; } = IPAddress.Parse("169.254.1.1");

    /// <summary>The MTU of both veth ends, or null for the kernel's default.</summary>
    public int? Mtu { get; init; }

    /// <summary>
    /// IPv4 forwarding on the host end. Proxy ARP answers for the gateway only on an interface that forwards;
    /// turn it off when <see cref="GatewayOnHost"/> is set and nothing may leave the sandbox through the host yet.
    /// </summary>
    public bool Forwarding { get; init; } = true;

    /// <summary>
    /// Also put the gateway address (/32) on the host end, so the host answers ARP for it as its own address even
    /// without forwarding or another route to it, and has a source address facing the sandbox.
    /// </summary>
    public bool GatewayOnHost { get; init; }

    /// <summary>
    /// With <see cref="GatewayOnHost"/>: answer ARP (and so learn a neighbour) only for a sender the host routes back
    /// through this link, i.e. the sandbox's own address (<c>arp_filter</c>, proxy ARP off). Needs the host's route to
    /// the sandbox in its main table; turn it off where that route lives in a table chosen by policy rules.
    /// </summary>
    public bool ArpOnlyFromItsAddress { get; init; } = true;
}

/// <summary>
/// One sandbox's network plumbing: a named netns holding the sandbox end of a veth pair (created there, never
/// moved), a /32 address, and routes through a host end that answers ARP for the gateway. Split into
/// <see cref="Prepare"/> (warm pool) and <see cref="Assign"/> (claim); <see cref="Destroy()"/> undoes both, and
/// <see cref="Retire"/> frees the names at once and leaves the deletion to the kernel.
/// </summary>
/// <remarks>
/// The host end is configured through <c>host</c>, a socket in the root namespace in production and in a test's
/// own namespace in tests. Instances are not thread-safe; <c>host</c> may be shared (it serialises its calls).
/// Every call blocks in the kernel (Prepare a few ms, Destroy tens of ms waiting for RCU); async callers that
/// care run them off their loop.
/// </remarks>
public sealed class SandboxLink : IDisposable
{
    /// <summary>The name prefix of host ends retired by <see cref="Retire"/>; no other link may use it.</summary>
    public const string TombstonePrefix = "moatrt";

    private static int s_deletionGroups;

    private readonly RtNetlink _host;
    private readonly RtNetlink _sandbox;
    private readonly SandboxLinkOptions _options;
    private readonly int _hostIndex;
    private readonly int _sandboxIndex;
    private bool _destroyed;

    private SandboxLink(RtNetlink host, RtNetlink sandbox, NetworkNamespace ns, string hostInterface, int hostIndex, int sandboxIndex, SandboxLinkOptions options)
    {
        _host = host;
        _sandbox = sandbox;
        Namespace = ns;
        HostInterface = hostInterface;
        _hostIndex = hostIndex;
        _sandboxIndex = sandboxIndex;
        _options = options;
    }

    /// <summary>The named network namespace (/run/netns/NAME) a runtime joins.</summary>
    public NetworkNamespace Namespace { get; }

    public string Name => Namespace.Name;

    /// <summary>The host end of the veth pair, where the sandbox's rules belong.</summary>
    public string HostInterface { get; }

    /// <summary>The address given by <see cref="Assign"/>, or null while the sandbox waits in the pool.</summary>
    public IPAddress? Address { get; private set; }

    /// <summary>
    /// Creates netns NAME, a veth pair HOSTIF / eth0 with eth0 born inside NAME, configures HOSTIF while it is down
    /// (forwarding, the gateway, and nothing learnt from the sandbox: see <see cref="HostEnd"/>), and brings lo, eth0
    /// and HOSTIF up. No address yet.
    /// </summary>
    public static SandboxLink Prepare(RtNetlink host, string name, string hostInterface, SandboxLinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= SandboxLinkOptions.Default;
        NetlinkBatch.ValidateInterfaceName(hostInterface, nameof(hostInterface));
        NetlinkBatch.ValidateInterfaceName(options.SandboxInterface, nameof(options));

        // The sandbox-side socket is opened on the thread that created the namespace, while it is still inside.
        var ns = NetworkNamespace.Create(name, RtNetlink.Open, out var sandbox);
        var created = false;
        try
        {
            // Alone in its request: the kernel would run later requests of a batch even if this one failed,
            // and they would then change a link of the same name that is not ours.
            // Down until its settings are in: nothing the sandbox sends is taken in before then.
            host.CreateVeth(new VethSpec(hostInterface, options.SandboxInterface, ns) { Mtu = options.Mtu });
            created = true;
            var hostIndex = host.GetLinkIndex(hostInterface)
                ?? throw new LinuxException(Errno.ENODEV, $"find {hostInterface} right after creating it");
            HostEnd.ConfigureAndBringUp(host, hostInterface, hostIndex, options);

            sandbox.Execute(new NetlinkBatch().SetLinkUp("lo").SetLinkUp(options.SandboxInterface));
            var sandboxIndex = sandbox.GetLinkIndex(options.SandboxInterface)
                ?? throw new LinuxException(Errno.ENODEV, $"find {options.SandboxInterface} in {ns.Path} right after creating it");
            return new SandboxLink(host, sandbox, ns, hostInterface, hostIndex, sandboxIndex, options);
        }
        catch
        {
            sandbox.Dispose();
            ns.Dispose();
            if (created)
            {
                host.DeleteLink(hostInterface);
            }

            NetworkNamespace.Delete(name);
            throw;
        }
    }

    /// <summary>
    /// Gives a namespace that lost its veth pair (a running sandbox whose host end was deleted) a new one made as
    /// <see cref="Prepare"/> makes it; the sandbox's address and routes are then asserted again with <see cref="Assign"/>.
    /// </summary>
    public static void Reconnect(RtNetlink host, NetworkNamespace ns, string hostInterface, SandboxLinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(ns);
        options ??= SandboxLinkOptions.Default;
        NetlinkBatch.ValidateInterfaceName(hostInterface, nameof(hostInterface));
        host.CreateVeth(new VethSpec(hostInterface, options.SandboxInterface, ns) { Mtu = options.Mtu });
        try
        {
            var hostIndex = host.GetLinkIndex(hostInterface)
                ?? throw new LinuxException(Errno.ENODEV, $"find {hostInterface} right after creating it");
            HostEnd.ConfigureAndBringUp(host, hostInterface, hostIndex, options);
            using var sandbox = RtNetlink.OpenIn(ns);
            sandbox.Execute(new NetlinkBatch().SetLinkUp("lo").SetLinkUp(options.SandboxInterface));
        }
        catch
        {
            host.DeleteLink(hostInterface);
            throw;
        }
    }

    /// <summary>
    /// Re-attaches to plumbing an earlier process made (reconciliation after a restart): opens NAME, finds HOSTIF
    /// and the sandbox interface, and reads the sandbox's IPv4 /32 back as <see cref="Address"/>. Returns null when
    /// the namespace or either end of the pair is missing (then <see cref="Destroy(RtNetlink, string, string)"/> the rest).
    /// </summary>
    public static SandboxLink? Attach(RtNetlink host, string name, string hostInterface, SandboxLinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= SandboxLinkOptions.Default;
        if (!NetworkNamespace.Exists(name) || host.GetLinkIndex(hostInterface) is not { } hostIndex)
        {
            return null;
        }

        var ns = NetworkNamespace.Open(name);
        RtNetlink? sandbox = null;
        try
        {
            sandbox = RtNetlink.OpenIn(ns);
            if (sandbox.GetLinkIndex(options.SandboxInterface) is not { } sandboxIndex)
            {
                sandbox.Dispose();
                ns.Dispose();
                return null;
            }

            var address = sandbox.ListAddresses()
                .FirstOrDefault(a => a.InterfaceIndex == sandboxIndex && a.PrefixLength == 32 && a.Address.AddressFamily == AddressFamily.InterNetwork);
            return new SandboxLink(host, sandbox, ns, hostInterface, hostIndex, sandboxIndex, options) { Address = address?.Address };
        }
        catch
        {
            sandbox?.Dispose();
            ns.Dispose();
            throw;
        }
    }

    /// <summary><see cref="Prepare"/> and <see cref="Assign"/> in one call.</summary>
    public static SandboxLink Create(RtNetlink host, string name, string hostInterface, IPAddress address, SandboxLinkOptions? options = null)
    {
        var link = Prepare(host, name, hostInterface, options);
        try
        {
            link.Assign(address);
            return link;
        }
        catch
        {
            link.Destroy();
            throw;
        }
    }

    /// <summary>
    /// Gives the sandbox its identity: eth0 gets ADDRESS/32, routes to the gateway (scope link) and a default route
    /// via it (onlink), and the host routes ADDRESS/32 to HOSTIF. Asserting the same address again (after
    /// <see cref="Attach"/>, in reconciliation) repairs what is missing and changes nothing else.
    /// </summary>
    public void Assign(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(_destroyed, this);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"Sandbox address {address} is not IPv4; the sandbox link routes one IPv4 /32 per sandbox.", nameof(address));
        }

        if (Address is not null && !Address.Equals(address))
        {
            throw new InvalidOperationException($"Sandbox {Name} already has address {Address}; destroy it and prepare another to give it {address}.");
        }

        var gateway = _options.Gateway;
        var sandboxSide = new NetlinkBatch()
            .AddAddress(_sandboxIndex, address, 32)
            .ReplaceRoute(new RouteSpec(new IPNetwork(gateway, 32), _sandboxIndex) { Scope = RouteScope.Link })
            .ReplaceRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), _sandboxIndex) { Gateway = gateway, OnLink = true });
        var results = _sandbox.Send(sandboxSide);
        for (var i = 0; i < results.Length; i++)
        {
            // The address may already be there when an assignment is asserted again.
            if (results[i].Errno != 0 && !(i == 0 && results[i].Errno == Errno.EEXIST))
            {
                throw new NetlinkException(results[i].Errno, sandboxSide.Requests[i].Description, results[i].Message);
            }
        }

        _host.Execute(new NetlinkBatch()
            .ReplaceRoute(new RouteSpec(new IPNetwork(address, 32), _hostIndex) { Scope = RouteScope.Link }));
        Address = address;
    }

    /// <summary>Deletes the veth pair (synchronously, so its names can be reused at once) and the namespace.</summary>
    public void Destroy()
    {
        if (_destroyed)
        {
            return;
        }

        _destroyed = true;
        Dispose();
        Destroy(_host, Name, HostInterface);
    }

    /// <summary>
    /// The fast teardown: takes HOSTIF down (the kernel drops its routes), renames it to a tombstone name and
    /// removes the namespace's name, so that NAME, HOSTIF and the address can be reused at once (under a
    /// millisecond, against tens of milliseconds for <see cref="Destroy()"/>). The kernel deletes the pair itself
    /// when the namespace dies, i.e. once no process or descriptor holds it; <see cref="ReapRetired"/> deletes any
    /// tombstone something kept alive.
    /// </summary>
    public void Retire()
    {
        if (_destroyed)
        {
            return;
        }

        _destroyed = true;
        Dispose();
        _host.Execute(new NetlinkBatch().SetLinkDown(_hostIndex).RenameLink(_hostIndex, TombstonePrefix + _hostIndex.ToString("x", System.Globalization.CultureInfo.InvariantCulture)));
        NetworkNamespace.Delete(Name);
    }

    /// <summary>Deletes the host ends left by <see cref="Retire"/> (in one group deletion); returns how many there were.</summary>
    public static int ReapRetired(RtNetlink host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var tombstones = host.ListLinks().Where(l => l.Name.StartsWith(TombstonePrefix, StringComparison.Ordinal)).ToList();
        if (tombstones.Count == 0)
        {
            return 0;
        }

        var group = NextDeletionGroup();
        var grouping = new NetlinkBatch();
        foreach (var tombstone in tombstones)
        {
            grouping.SetLinkGroup(tombstone.Name, group);
        }

        // The kernel may be deleting some of them right now (their namespace died): those are not errors.
        var grouped = host.Send(grouping).Count(r => r.Errno == 0);
        if (grouped > 0)
        {
            var deleted = host.Send(new NetlinkBatch().DeleteLinkGroup(group))[0];
            if (deleted.Errno is not (0 or Errno.ENODEV))
            {
                throw new NetlinkException(deleted.Errno, $"delete {grouped} retired links", deleted.Message);
            }
        }

        return tombstones.Count;
    }

    /// <summary>
    /// Removes what <see cref="Prepare"/> made for NAME / HOSTIF, whatever is left of it; for teardown and for
    /// reconciliation after a restart. Returns false when nothing was there.
    /// </summary>
    public static bool Destroy(RtNetlink host, string name, string hostInterface)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Deleting the link first and explicitly: the kernel would destroy it with the namespace, but later.
        var linkDeleted = host.DeleteLink(hostInterface);
        var namespaceDeleted = NetworkNamespace.Delete(name);
        return linkDeleted || namespaceDeleted;
    }

    /// <summary>
    /// Destroys many sandboxes' plumbing at once: their host ends are put in one device group and deleted by a
    /// single request, so the kernel's per-deletion wait (RCU grace periods) is paid once, not once per sandbox.
    /// </summary>
    public static void Destroy(RtNetlink host, IReadOnlyCollection<SandboxLink> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        foreach (var link in links)
        {
            link._destroyed = true;
            link.Dispose();
        }

        Destroy(host, [.. links.Select(l => (l.Name, l.HostInterface))]);
    }

    /// <summary>The by-name form of <see cref="Destroy(RtNetlink, IReadOnlyCollection{SandboxLink})"/>, for reconciliation; missing pieces are skipped.</summary>
    public static void Destroy(RtNetlink host, IReadOnlyCollection<(string Name, string HostInterface)> sandboxes)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(sandboxes);
        if (sandboxes.Count == 0)
        {
            return;
        }

        var group = NextDeletionGroup();
        var grouping = new NetlinkBatch();
        foreach (var (_, hostInterface) in sandboxes)
        {
            grouping.SetLinkGroup(hostInterface, group);
        }

        var results = host.Send(grouping);
        var requests = grouping.Requests;
        for (var i = 0; i < results.Length; i++)
        {
            if (results[i].Errno is not (0 or Errno.ENODEV))
            {
                throw new NetlinkException(results[i].Errno, requests[i].Description, results[i].Message);
            }
        }

        if (results.Any(r => r.Errno == 0))
        {
            host.Execute(new NetlinkBatch().DeleteLinkGroup(group));
        }

        foreach (var (name, _) in sandboxes)
        {
            NetworkNamespace.Delete(name);
        }
    }

    /// <summary>Closes this object's descriptors; the namespace and links stay (use <see cref="Destroy()"/> to remove them).</summary>
    public void Dispose()
    {
        _sandbox.Dispose();
        Namespace.Dispose();
    }

    /// <summary>A device group no other caller uses at the same time: high bit, process id, counter.</summary>
    private static uint NextDeletionGroup() =>
        0x4000_0000u | ((uint)(Environment.ProcessId & 0xffff) << 12) | ((uint)Interlocked.Increment(ref s_deletionGroups) & 0xfff);
}
