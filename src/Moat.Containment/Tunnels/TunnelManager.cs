using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Linux;
using Moat.Linux.Netlink;

namespace Moat.Containment.Tunnels;

/// <summary>
/// The host side of sandbox tunnels, for the agent: a VXLAN link to the client per sandbox, and source-based policy
/// routing so the sandbox's default route is the tunnel while direct destinations and the client use the main table.
/// </summary>
/// <remarks>
/// Per sandbox S with VXLAN id N: link mt&lt;id&gt; (remote = client, local = host), address 169.254.x.1/30 on it;
/// table TableBase+N holding "default via 169.254.x.2 dev mt&lt;id&gt; onlink"; rules
/// "from S to D lookup main" (priority P) for each direct D and the client, and "from S lookup TableBase+N" (P+1).
/// Everything is derived from the kernel's state, so a restarted agent can close or reconcile what it finds.
/// </remarks>
public sealed partial class TunnelManager : IDisposable
{
    private const uint MainTable = 254;
    private readonly TunnelOptions _options;
    private readonly ILogger _logger;
    private readonly RtNetlink _netlink;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public TunnelManager(TunnelOptions options, ILogger<TunnelManager>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _netlink = options.Namespace is null ? RtNetlink.Open() : RtNetlink.OpenIn(options.Namespace);
    }

    /// <summary>This host's end of every tunnel: the source of encapsulated packets (the client's <c>--host</c>).</summary>
    public IPAddress HostAddress => _options.HostUnderlayAddress;

    /// <summary>The VXLAN UDP port of both ends.</summary>
    public ushort Port => _options.Port;

    /// <summary>Opens (or, when it differs, rebuilds) the tunnel of one sandbox; a repeated identical call changes nothing.</summary>
    /// <exception cref="TunnelException">The spec is not valid or the kernel refused; nothing of the new tunnel is left behind.</exception>
    public Task OpenAsync(string sandboxId, IPAddress sandboxAddress, IPAddress clientUnderlayAddress, uint vni, IReadOnlyList<IPNetwork>? direct = null, CancellationToken cancellationToken = default) =>
        OpenAsync(new TunnelSpec(sandboxId, sandboxAddress, clientUnderlayAddress, vni) { Direct = direct ?? [] }, cancellationToken);

    /// <inheritdoc cref="OpenAsync(string, IPAddress, IPAddress, uint, IReadOnlyList{IPNetwork}?, CancellationToken)"/>
    public async Task OpenAsync(TunnelSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Validate(spec);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = Snapshot();
            var current = state.Find(spec.SandboxId);
            if (current is not null && current.Equals(spec))
            {
                return;
            }

            var clash = state.Tunnels.FirstOrDefault(t => t.SandboxId != spec.SandboxId
                && (t.Vni == spec.Vni || TunnelAddressing.SlotOf(t.Vni) == TunnelAddressing.SlotOf(spec.Vni)));
            if (clash is not null)
            {
                throw new TunnelException($"VXLAN id {spec.Vni} for sandbox {spec.SandboxId} clashes with sandbox {clash.SandboxId}'s id {clash.Vni} (ids must be distinct modulo {TunnelAddressing.LinkSlots}).");
            }

            if (current is not null || state.HasLink(spec.SandboxId))
            {
                Remove(spec.SandboxId, state);
            }

            Build(spec);
            Log.Opened(_logger, spec.SandboxId, spec.Vni, spec.ClientUnderlayAddress, spec.Direct.Count);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Sends the sandbox's traffic to <paramref name="destination"/> directly rather than through its client (an
    /// authcert opened it), by one more rule and without touching the link; false when the sandbox has no tunnel.
    /// </summary>
    public async Task<bool> AddDirectAsync(string sandboxId, IPNetwork destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandboxId);
        if (destination.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new TunnelException($"Direct destination {destination} of sandbox {sandboxId} is not an IPv4 prefix.");
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Snapshot().Find(sandboxId) is not { } current)
            {
                return false;
            }

            if (!DirectSet(current).Contains(destination))
            {
                try
                {
                    _netlink.Execute(new NetlinkBatch().AddRule(new RuleSpec(_options.RulePriority, MainTable) { Source = new IPNetwork(current.SandboxAddress, 32), Destination = destination }));
                }
                catch (Exception e) when (e is NetlinkException or LinuxException)
                {
                    throw new TunnelException($"The kernel refused a direct route from sandbox {sandboxId} to {destination}: {e.Message}", e);
                }
            }

            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes a sandbox's tunnel, rules and table; false when it had none.</summary>
    public async Task<bool> CloseAsync(string sandboxId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandboxId);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = Snapshot();
            if (!state.HasLink(sandboxId))
            {
                return false;
            }

            Remove(sandboxId, state);
            Log.Closed(_logger, sandboxId);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Makes the kernel hold exactly <paramref name="wanted"/>: tunnels of sandboxes not listed are removed with their
    /// rules and tables (also rules whose link is gone), listed ones are built or repaired. Returns what changed.
    /// </summary>
    public async Task<TunnelReconciliation> ReconcileAsync(IReadOnlyCollection<TunnelSpec> wanted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        foreach (var spec in wanted)
        {
            Validate(spec);
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = Snapshot();
            var wantedIds = wanted.Select(w => w.SandboxId).ToHashSet(StringComparer.Ordinal);
            var removed = new List<string>();
            foreach (var id in state.LinkNames.Select(SandboxIdOf).Where(id => !wantedIds.Contains(id)))
            {
                Remove(id, state);
                removed.Add(id);
            }

            // Rules whose tunnel link is gone (an agent killed half-way) point at empty tables: sweep them.
            var orphans = OrphanRules(Snapshot());
            foreach (var rule in orphans)
            {
                _netlink.DeleteRule(rule);
            }

            var opened = new List<string>();
            state = Snapshot();
            foreach (var spec in wanted)
            {
                if (state.Find(spec.SandboxId) is { } current && current.Equals(spec))
                {
                    continue;
                }

                if (state.HasLink(spec.SandboxId))
                {
                    Remove(spec.SandboxId, state);
                }

                Build(spec);
                opened.Add(spec.SandboxId);
            }

            Log.Reconciled(_logger, opened.Count, removed.Count, orphans.Count);
            return new TunnelReconciliation(opened, removed, orphans.Count);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The tunnels the kernel holds now, read back from links, rules and tables.</summary>
    public IReadOnlyList<TunnelSpec> List() => Snapshot().Tunnels;

    public void Dispose()
    {
        _netlink.Dispose();
        _gate.Dispose();
    }

    private uint TableOf(uint vni) => _options.TableBase + vni;

    private void Validate(TunnelSpec spec)
    {
        static bool IsV4(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork;
        var name = TunnelAddressing.HostInterface(spec.SandboxId ?? "");
        if (string.IsNullOrEmpty(spec.SandboxId) || name.Length > 15 || !spec.SandboxId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new TunnelException($"Sandbox id '{spec.SandboxId}' cannot name a tunnel: use 1 to 13 ASCII letters, digits, '-' or '_'.");
        }

        if (spec.Vni is 0 or > VxlanSpec.MaxVni)
        {
            throw new TunnelException($"VXLAN id {spec.Vni} for sandbox {spec.SandboxId} is not valid: use 1 to {VxlanSpec.MaxVni}.");
        }

        if (!IsV4(spec.SandboxAddress) || !IsV4(spec.ClientUnderlayAddress) || !IsV4(_options.HostUnderlayAddress))
        {
            throw new TunnelException($"Tunnel of sandbox {spec.SandboxId}: sandbox {spec.SandboxAddress}, client {spec.ClientUnderlayAddress} and host {_options.HostUnderlayAddress} must all be IPv4 addresses.");
        }

        var badDirect = spec.Direct.FirstOrDefault(d => !IsV4(d.BaseAddress));
        if (badDirect != default)
        {
            throw new TunnelException($"Direct destination {badDirect} of sandbox {spec.SandboxId} is not an IPv4 prefix.");
        }
    }

    private void Build(TunnelSpec spec)
    {
        var name = TunnelAddressing.HostInterface(spec.SandboxId);
        var sandbox = new IPNetwork(spec.SandboxAddress, 32);
        try
        {
            _netlink.CreateVxlan(new VxlanSpec(name, spec.Vni, spec.ClientUnderlayAddress, _options.HostUnderlayAddress)
            {
                DestinationPort = _options.Port,
                Up = true,
            });
            var index = _netlink.GetLinkIndex(name) ?? throw new TunnelException($"Tunnel link {name} vanished right after it was created.");
            var batch = new NetlinkBatch()
                .AddAddress(index, TunnelAddressing.HostLinkAddress(spec.Vni), TunnelAddressing.LinkPrefixLength)
                .SetIpv4Settings(index, (Ipv4DeviceSetting.Forwarding, 1u))
                .AddRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), index)
                {
                    Gateway = TunnelAddressing.ClientLinkAddress(spec.Vni),
                    OnLink = true,
                    Table = TableOf(spec.Vni),
                });
            foreach (var direct in DirectSet(spec))
            {
                batch.AddRule(new RuleSpec(_options.RulePriority, MainTable) { Source = sandbox, Destination = direct });
            }

            batch.AddRule(new RuleSpec(_options.RulePriority + 1, TableOf(spec.Vni)) { Source = sandbox });
            _netlink.Execute(batch);
        }
        catch (Exception e) when (e is NetlinkException or LinuxException or ArgumentException)
        {
            Remove(spec.SandboxId, Snapshot());
            throw new TunnelException($"The kernel refused the tunnel of sandbox {spec.SandboxId} (VXLAN {spec.Vni} to {spec.ClientUnderlayAddress}): {e.Message}", e);
        }
    }

    private static IEnumerable<IPNetwork> DirectSet(TunnelSpec spec) =>
        spec.Direct.Append(new IPNetwork(spec.ClientUnderlayAddress, 32)).Distinct();

    private void Remove(string sandboxId, KernelState state)
    {
        // Rules first: from then on the sandbox's packets no longer reach the table or the link being removed.
        foreach (var rule in state.RulesOf(sandboxId))
        {
            _netlink.DeleteRule(rule);
        }

        if (state.Links.FirstOrDefault(l => l.Name == TunnelAddressing.HostInterface(sandboxId)) is { } link)
        {
            foreach (var route in state.Routes.Where(r => r.Table == TableOf(link.Vni)))
            {
                _netlink.DeleteRoute(route);
            }

            _netlink.DeleteLink(link.Name);
        }
    }

    private List<RuleSpec> OrphanRules(KernelState state)
    {
        var tables = state.Links.Select(l => TableOf(l.Vni)).ToHashSet();
        var tunnelRules = state.Rules.Where(r => r.Priority == _options.RulePriority + 1 && r.Table >= _options.TableBase && r.Table <= _options.TableBase + VxlanSpec.MaxVni).ToList();
        var orphanTunnelRules = tunnelRules.Where(r => !tables.Contains(r.Table)).ToList();
        var liveSources = tunnelRules.Except(orphanTunnelRules).Select(r => r.Source).ToHashSet();
        var orphanDirect = state.Rules.Where(r => r.Priority == _options.RulePriority && r.Table == MainTable && !liveSources.Contains(r.Source));
        return [.. orphanTunnelRules, .. orphanDirect];
    }

    private static string SandboxIdOf(string linkName) => linkName[2..];

    private KernelState Snapshot()
    {
        var links = _netlink.ListVxlans().Where(l => l.Name.StartsWith("mt", StringComparison.Ordinal) && l.Name.Length > 2).ToList();
        var rules = _netlink.ListRules().Where(r => !r.IPv6 && (r.Priority == _options.RulePriority || r.Priority == _options.RulePriority + 1)).ToList();
        var routes = _netlink.ListRoutes().Where(r => r.Table >= _options.TableBase && r.Table <= _options.TableBase + VxlanSpec.MaxVni).ToList();
        return new KernelState(this, links, rules, routes);
    }

    /// <summary>What the kernel holds of this manager's tunnels at one moment.</summary>
    private sealed record KernelState(TunnelManager Owner, List<VxlanInfo> Links, List<RuleSpec> Rules, List<RouteSpec> Routes)
    {
        public IEnumerable<string> LinkNames => Links.Select(l => l.Name);

        public bool HasLink(string sandboxId) => Links.Any(l => l.Name == TunnelAddressing.HostInterface(sandboxId));

        public IReadOnlyList<TunnelSpec> Tunnels => [.. Links.Select(l => Find(SandboxIdOf(l.Name))).OfType<TunnelSpec>()];

        public IEnumerable<RuleSpec> RulesOf(string sandboxId)
        {
            var link = Links.FirstOrDefault(l => l.Name == TunnelAddressing.HostInterface(sandboxId));
            if (link is null)
            {
                return [];
            }

            var tunnelRules = Rules.Where(r => r.Priority == Owner._options.RulePriority + 1 && r.Table == Owner.TableOf(link.Vni)).ToList();
            var sources = tunnelRules.Select(r => r.Source).ToHashSet();
            return [.. Rules.Where(r => r.Priority == Owner._options.RulePriority && r.Table == MainTable && sources.Contains(r.Source)), .. tunnelRules];
        }

        /// <summary>The spec this sandbox's tunnel was built from, or null when any part of it is missing.</summary>
        public TunnelSpec? Find(string sandboxId)
        {
            var link = Links.FirstOrDefault(l => l.Name == TunnelAddressing.HostInterface(sandboxId));
            if (link?.Remote is null || !link.IsUp || link.DestinationPort != Owner._options.Port || !Equals(link.Local, Owner._options.HostUnderlayAddress))
            {
                return null;
            }

            var table = Owner.TableOf(link.Vni);
            var tunnelRule = Rules.SingleOrDefault(r => r.Priority == Owner._options.RulePriority + 1 && r.Table == table);
            var hasRoute = Routes.Any(r => r.Table == table && r.Destination.PrefixLength == 0 && Equals(r.Gateway, TunnelAddressing.ClientLinkAddress(link.Vni)));
            if (tunnelRule?.Source is not { PrefixLength: 32 } source || !hasRoute)
            {
                return null;
            }

            var client = new IPNetwork(link.Remote, 32);
            var direct = Rules.Where(r => r.Priority == Owner._options.RulePriority && r.Table == MainTable && r.Source == source && r.Destination is not null)
                .Select(r => r.Destination!.Value)
                .ToList();
            if (!direct.Contains(client))
            {
                return null;
            }

            // The client's own address is always direct; it is part of the tunnel, not of the caller's list.
            direct.Remove(client);
            return new TunnelSpec(sandboxId, source.BaseAddress, link.Remote, link.Vni) { Direct = direct };
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3401, Level = LogLevel.Information, Message = "Tunnel of sandbox {SandboxId} open: VXLAN {Vni} to client {Client}, {DirectCount} direct destinations")]
        public static partial void Opened(ILogger logger, string sandboxId, uint vni, IPAddress client, int directCount);

        [LoggerMessage(EventId = 3402, Level = LogLevel.Information, Message = "Tunnel of sandbox {SandboxId} closed")]
        public static partial void Closed(ILogger logger, string sandboxId);

        [LoggerMessage(EventId = 3403, Level = LogLevel.Information, Message = "Tunnels reconciled: {Opened} built or repaired, {Removed} removed, {Orphans} orphan rules swept")]
        public static partial void Reconciled(ILogger logger, int opened, int removed, int orphans);
    }
}

/// <summary>What <see cref="TunnelManager.ReconcileAsync"/> changed.</summary>
public sealed record TunnelReconciliation(IReadOnlyList<string> Opened, IReadOnlyList<string> Removed, int OrphanRules);
