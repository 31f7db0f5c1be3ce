using System.Net;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Containment.Policy;
using Moat.Linux;
using Moat.Linux.Namespaces;
using Moat.Linux.Nftables;

namespace Moat.Containment.Rules;

/// <summary>
/// The containment rules in force on one host: an `inet` table whose forward and input hooks send each sandbox's
/// packets (by host veth name, through the verdict map "sandboxes") to the sandbox's own chain. Every change is one
/// nf_tables transaction; a sandbox's change touches only its chain, sets and map element.
/// </summary>
/// <remarks>Calls are serialised; they are synchronous because the kernel answers within the system call.</remarks>
[SupportedOSPlatform("linux")]
public sealed partial class ContainmentRules : IDisposable
{
    private const NftFamily Inet = NftFamily.Inet;

    private readonly NftSocket _socket;
    private readonly ContainmentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SandboxNetwork> _sandboxes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _quarantined = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _throttled = new(StringComparer.Ordinal);

    // The verdicts the two maps hold for each sandbox, so that a rule change does not rewrite them: a map element
    // that jumps makes the kernel re-validate every chain reachable from the table, which costs O(sandboxes).
    private readonly Dictionary<string, (NftVerdict Forward, NftVerdict Input)> _elements = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (NftVerdict Forward, NftVerdict Input)> _pendingElements = new(StringComparer.Ordinal);
    private AdminPolicy _policy;

    private ContainmentRules(NftSocket socket, ContainmentOptions options, AdminPolicy policy, TimeProvider time, ILogger logger)
    {
        _socket = socket;
        _options = options;
        _policy = policy;
        _time = time;
        _logger = logger;
    }

    /// <summary>Opens the rules of the namespace <paramref name="ns"/> (null: the caller's); call <see cref="Reconcile"/> next.</summary>
    public static ContainmentRules Open(ContainmentOptions options, AdminPolicy policy, NetworkNamespace? ns = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(policy);
        var socket = ns is null ? NftSocket.Open() : NftSocket.OpenIn(ns);
        return new ContainmentRules(socket, options, policy, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
    }

    public AdminPolicy Policy
    {
        get
        {
            lock (_lock)
            {
                return _policy;
            }
        }
    }

    public ContainmentOptions Options => _options;

    /// <summary>The sandboxes whose rules are in force.</summary>
    public IReadOnlyList<SandboxNetwork> Sandboxes
    {
        get
        {
            lock (_lock)
            {
                return [.. _sandboxes.Values];
            }
        }
    }

    public bool IsQuarantined(string id)
    {
        lock (_lock)
        {
            return _quarantined.Contains(id);
        }
    }

    /// <summary>
    /// Makes the kernel hold exactly the rules for <paramref name="live"/> (the table, policy sets, every live sandbox's
    /// chain) and removes chains of sandboxes that no longer exist; authcert openings of live sandboxes are kept.
    /// One transaction.
    /// </summary>
    public void Reconcile(IEnumerable<SandboxNetwork> live, IEnumerable<string>? quarantined = null)
    {
        ArgumentNullException.ThrowIfNull(live);
        lock (_lock)
        {
            var sandboxes = live.ToDictionary(s => s.Id, StringComparer.Ordinal);
            var quarantine = new HashSet<string>(quarantined ?? [], StringComparer.Ordinal);
            quarantine.IntersectWith(sandboxes.Keys);
            foreach (var gone in _throttled.Keys.Where(k => !sandboxes.ContainsKey(k)).ToList())
            {
                _throttled.Remove(gone);
            }

            _elements.Clear();
            var orphans = Rebuild(_policy, sandboxes.Values, quarantine);
            _sandboxes.Clear();
            foreach (var (id, sandbox) in sandboxes)
            {
                _sandboxes[id] = sandbox;
            }

            _quarantined.Clear();
            _quarantined.UnionWith(quarantine);
            LogReconciled(_logger, sandboxes.Count, orphans);
        }
    }

    /// <summary>
    /// Puts <paramref name="policy"/> in force for every running sandbox in one transaction; if the kernel refuses it,
    /// the old policy and rules stay.
    /// </summary>
    public void ReplacePolicy(AdminPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_lock)
        {
            Rebuild(policy, _sandboxes.Values, _quarantined);
            _policy = policy;
            LogPolicyApplied(_logger, policy.Source, _sandboxes.Count);
        }
    }

    /// <summary>Adds or replaces one sandbox's rules (its chain, sets and map element); other sandboxes are not touched.</summary>
    public void Apply(SandboxNetwork sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        lock (_lock)
        {
            RebuildOne(sandbox);
            _sandboxes[sandbox.Id] = sandbox;
        }
    }

    /// <summary>Adds or replaces several sandboxes' rules in one transaction.</summary>
    public void ApplyMany(IEnumerable<SandboxNetwork> sandboxes)
    {
        ArgumentNullException.ThrowIfNull(sandboxes);
        lock (_lock)
        {
            var list = sandboxes.ToList();
            var t = new NftTransaction();
            foreach (var sandbox in list)
            {
                AddSandbox(t, _policy, sandbox, _quarantined.Contains(sandbox.Id), fresh: false);
            }

            Commit(t);
            foreach (var sandbox in list)
            {
                _sandboxes[sandbox.Id] = sandbox;
            }
        }
    }

    /// <summary>Removes a sandbox's chain, sets and map element; succeeds when they are already gone.</summary>
    public void Remove(string id)
    {
        lock (_lock)
        {
            var t = new NftTransaction();
            RemoveSandbox(t, id);
            Commit(t);
            _sandboxes.Remove(id);
            _quarantined.Remove(id);
            _throttled.Remove(id);
            _elements.Remove(id);
        }
    }

    /// <summary>Cuts the sandbox off the network at once: its map element becomes drop, its chain stays for release.</summary>
    public void Quarantine(string id)
    {
        lock (_lock)
        {
            var sandbox = Known(id);
            var t = new NftTransaction();
            SetMapElements(t, sandbox, Verdicts(id, trusted: false, quarantined: true), force: true);
            Commit(t);
            _quarantined.Add(id);
            LogQuarantined(_logger, id);
        }
    }

    /// <summary>
    /// Throttles the sandbox (a watcher's response): what it sends beyond <paramref name="bytesPerSecond"/> is dropped
    /// by the first rule of its chain, rebuilt in one transaction; its other rules stay as they are.
    /// </summary>
    public void Throttle(string id, long bytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        lock (_lock)
        {
            var sandbox = Known(id);
            _throttled[id] = bytesPerSecond;
            RebuildOne(sandbox);
            LogThrottled(_logger, id, bytesPerSecond);
        }
    }

    /// <summary>Ends a throttle; no error when the sandbox was not throttled.</summary>
    public void Unthrottle(string id)
    {
        lock (_lock)
        {
            var sandbox = Known(id);
            if (_throttled.Remove(id))
            {
                RebuildOne(sandbox);
            }
        }
    }

    /// <summary>The sandbox's throttle in bytes per second, or null when it is not throttled.</summary>
    public long? ThrottleOf(string id)
    {
        lock (_lock)
        {
            return _throttled.TryGetValue(id, out var rate) ? rate : null;
        }
    }

    private void RebuildOne(SandboxNetwork sandbox)
    {
        var t = new NftTransaction();
        AddSandbox(t, _policy, sandbox, _quarantined.Contains(sandbox.Id), fresh: false);
        Commit(t);
    }

    /// <summary>Ends a quarantine: the sandbox's packets go to its chain again.</summary>
    public void Release(string id)
    {
        lock (_lock)
        {
            var sandbox = Known(id);
            var t = new NftTransaction();
            var trusted = RuleCompiler.CompileHostInput(_policy, sandbox, _options) is null;
            SetMapElements(t, sandbox, Verdicts(id, trusted, quarantined: false), force: true);
            Commit(t);
            _quarantined.Remove(id);
            LogReleased(_logger, id);
        }
    }

    /// <summary>
    /// Opens <paramref name="destination"/> (one port, or all when <paramref name="port"/> is null) to the sandbox until
    /// <paramref name="notAfter"/>; the kernel removes the opening then (a set element timeout).
    /// </summary>
    public void OpenDestination(string id, IPAddress destination, ushort? port, DateTimeOffset notAfter)
    {
        ArgumentNullException.ThrowIfNull(destination);
        lock (_lock)
        {
            Known(id);
            var left = notAfter - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                throw new ContainmentInputException($"The opening to {destination} expired at {notAfter:u}; present a certificate that is still valid.");
            }

            var t = new NftTransaction();
            if (port is { } p)
            {
                t.AddElements(Inet, _options.Table, RuleNames.AuthPorts(id), [NftElement.AddressAndPort(destination, p, left)]);
            }
            else
            {
                t.AddElements(Inet, _options.Table, RuleNames.AuthAddresses(id), [NftElement.Address(destination, left)]);
            }

            Commit(t);
            LogOpened(_logger, id, destination.ToString(), port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "all", notAfter);
        }
    }

    /// <summary>Closes an opening before it expires (e.g. the certificate was revoked); no error if it is gone.</summary>
    public void CloseDestination(string id, IPAddress destination, ushort? port)
    {
        ArgumentNullException.ThrowIfNull(destination);
        lock (_lock)
        {
            var t = new NftTransaction();
            if (port is { } p)
            {
                t.DestroyElements(Inet, _options.Table, RuleNames.AuthPorts(id), [NftElement.AddressAndPort(destination, p)]);
            }
            else
            {
                t.DestroyElements(Inet, _options.Table, RuleNames.AuthAddresses(id), [NftElement.Address(destination)]);
            }

            Commit(t);
        }
    }

    /// <summary>Removes the whole table (every sandbox's rules).</summary>
    public void DestroyTable()
    {
        lock (_lock)
        {
            _socket.Commit(new NftTransaction().DestroyTable(Inet, _options.Table));
            _sandboxes.Clear();
            _quarantined.Clear();
            _throttled.Clear();
            _elements.Clear();
        }
    }

    public void Dispose() => _socket.Dispose();

    private SandboxNetwork Known(string id) =>
        _sandboxes.TryGetValue(id, out var sandbox) ? sandbox : throw new ContainmentInputException($"Sandbox '{id}' has no containment rules on this host; give the id of a running sandbox.");

    /// <summary>Writes the whole table for <paramref name="policy"/> and <paramref name="sandboxes"/>; returns the number of orphan chains removed.</summary>
    private int Rebuild(AdminPolicy policy, IEnumerable<SandboxNetwork> sandboxes, IReadOnlySet<string> quarantined)
    {
        var table = _options.Table;
        var list = sandboxes.ToList();
        var existingChains = _socket.ListChains(Inet, table);
        var existingSets = _socket.ListSets(Inet, table);
        var liveIds = list.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);

        var t = new NftTransaction().AddTable(Inet, table);
        t.AddSet(Inet, table, NftSetSpec.InterfaceVerdictMap(RuleNames.SandboxMap));
        t.AddSet(Inet, table, NftSetSpec.InterfaceVerdictMap(RuleNames.HostInputMap));
        foreach (var (name, prefixes) in new[] { (RuleNames.FixedDenySet, _options.FixedDeny()), (RuleNames.LanSet, _options.LanPrefixes.AsEnumerable()) })
        {
            t.AddSet(Inet, table, NftSetSpec.Ipv4Addresses(name, interval: true)).FlushSet(Inet, table, name).AddElements(Inet, table, name, Intervals.Elements(prefixes));
        }

        AddDohSet(t);

        // Flush every sandbox chain first so that sets they used can be replaced or removed below.
        var sandboxChains = existingChains.Where(c => RuleNames.IdOfChain(c) is not null).ToList();
        foreach (var chain in existingChains.Where(c => RuleNames.IdOfChain(c) is not null || c.StartsWith(RuleNames.HostChainPrefix, StringComparison.Ordinal)))
        {
            t.FlushChain(Inet, table, chain);
        }

        var orphans = 0;
        foreach (var chain in sandboxChains)
        {
            var id = RuleNames.IdOfChain(chain)!;
            if (!liveIds.Contains(id))
            {
                RemoveSandbox(t, id);
                orphans++;
            }
        }

        var wanted = policy.Allow.Select(a => RuleNames.Allow(a.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in existingSets.Where(s => s.StartsWith("allow_", StringComparison.Ordinal) && !wanted.Contains(s)))
        {
            t.DestroySet(Inet, table, stale);
        }

        foreach (var allow in policy.Allow)
        {
            var name = RuleNames.Allow(allow.Name);
            t.AddSet(Inet, table, NftSetSpec.Ipv4Addresses(name, interval: true)).FlushSet(Inet, table, name).AddElements(Inet, table, name, Intervals.Elements(allow.Prefixes));
        }

        foreach (var (chain, hook, map) in new[] { (RuleNames.ForwardChain, NftHook.Forward, RuleNames.SandboxMap), (RuleNames.InputChain, NftHook.Input, RuleNames.HostInputMap) })
        {
            t.AddBaseChain(Inet, table, chain, hook, _options.Priority, NftVerdict.Accept)
                .FlushChain(Inet, table, chain)
                .AddRule(Inet, table, chain, [new NftMeta(NftMetaKey.InputInterfaceName), new NftLookup(map, NftRegister.R0, NftRegister.Verdict)], $"iifname vmap @{map}");
        }

        foreach (var sandbox in list)
        {
            AddSandbox(t, policy, sandbox, quarantined.Contains(sandbox.Id), fresh: true);
        }

        Commit(t);
        return orphans;
    }

    /// <param name="fresh">The chains were already flushed earlier in this transaction and the map elements are unknown.</param>
    private void AddSandbox(NftTransaction t, AdminPolicy policy, SandboxNetwork sandbox, bool quarantined, bool fresh)
    {
        var table = _options.Table;
        var known = !fresh && _sandboxes.ContainsKey(sandbox.Id);
        var chain = RuleNames.Chain(sandbox.Id);
        var hostChain = RuleNames.HostChain(sandbox.Id);
        if (!known)
        {
            t.AddSet(Inet, table, NftSetSpec.Ipv4Addresses(RuleNames.AuthAddresses(sandbox.Id), timeout: true))
                .AddSet(Inet, table, NftSetSpec.Ipv4Addresses(RuleNames.NameAddresses(sandbox.Id), timeout: true))
                .AddSet(Inet, table, NftSetSpec.Ipv4AddressAndPort(RuleNames.AuthPorts(sandbox.Id), timeout: true))
                .AddChain(Inet, table, chain)
                .AddChain(Inet, table, hostChain);
        }

        if (!fresh)
        {
            t.FlushChain(Inet, table, chain).FlushChain(Inet, table, hostChain);
        }

        long? throttle = _throttled.TryGetValue(sandbox.Id, out var rate) ? rate : null;
        foreach (var rule in RuleCompiler.Compile(policy, sandbox, _options, throttle))
        {
            t.AddRule(Inet, table, chain, rule.Expressions, $"sandbox {sandbox.Id} rule {rule.RuleId}");
        }

        var host = RuleCompiler.CompileHostInput(policy, sandbox, _options);
        if (host is not null)
        {
            foreach (var rule in RuleCompiler.CompileResolverInput(sandbox, _options))
            {
                t.AddRule(Inet, table, hostChain, rule.Expressions, $"sandbox {sandbox.Id} rule {rule.RuleId}");
            }

            t.AddRule(Inet, table, hostChain, host.Expressions, $"sandbox {sandbox.Id} rule {host.RuleId}");
        }

        SetMapElements(t, sandbox, Verdicts(sandbox.Id, trusted: host is null, quarantined), fresh);
    }

    private static (NftVerdict Forward, NftVerdict Input) Verdicts(string id, bool trusted, bool quarantined) =>
        quarantined ? (NftVerdict.Drop, NftVerdict.Drop)
        : (NftVerdict.Goto(RuleNames.Chain(id)), trusted ? NftVerdict.Accept : NftVerdict.Goto(RuleNames.HostChain(id)));

    /// <summary>Writes the sandbox's two map elements unless they already hold these verdicts.</summary>
    private void SetMapElements(NftTransaction t, SandboxNetwork sandbox, (NftVerdict Forward, NftVerdict Input) verdicts, bool force)
    {
        if (!force && _elements.TryGetValue(sandbox.Id, out var current) && current == verdicts)
        {
            return;
        }

        foreach (var (map, verdict) in new[] { (RuleNames.SandboxMap, verdicts.Forward), (RuleNames.HostInputMap, verdicts.Input) })
        {
            t.DestroyElements(Inet, _options.Table, map, [NftElement.InterfaceVerdict(sandbox.HostInterface, verdict)])
                .AddElements(Inet, _options.Table, map, [NftElement.InterfaceVerdict(sandbox.HostInterface, verdict)]);
        }

        _pendingElements[sandbox.Id] = verdicts;
    }

    private void RemoveSandbox(NftTransaction t, string id)
    {
        var table = _options.Table;
        var iface = _sandboxes.TryGetValue(id, out var known) ? known.HostInterface : SandboxNetwork.InterfaceFor(id);
        t.DestroyElements(Inet, table, RuleNames.SandboxMap, [NftElement.InterfaceVerdict(iface, NftVerdict.Drop)])
            .DestroyElements(Inet, table, RuleNames.HostInputMap, [NftElement.InterfaceVerdict(iface, NftVerdict.Drop)])
            .DestroyChain(Inet, table, RuleNames.Chain(id))
            .DestroyChain(Inet, table, RuleNames.HostChain(id))
            .DestroySet(Inet, table, RuleNames.AuthAddresses(id))
            .DestroySet(Inet, table, RuleNames.AuthPorts(id))
            .DestroySet(Inet, table, RuleNames.NameAddresses(id));
    }

    /// <summary>Commits <paramref name="t"/>; the map verdicts it wrote become the known ones only if the kernel took it.</summary>
    private void Commit(NftTransaction t)
    {
        try
        {
            _socket.Commit(t);
            foreach (var (id, verdicts) in _pendingElements)
            {
                _elements[id] = verdicts;
            }
        }
        finally
        {
            _pendingElements.Clear();
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Containment rules reconciled: {Sandboxes} sandboxes, {Orphans} orphan chains removed")]
    private static partial void LogReconciled(ILogger logger, int sandboxes, int orphans);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Containment policy {Source} in force for {Sandboxes} sandboxes")]
    private static partial void LogPolicyApplied(ILogger logger, string source, int sandboxes);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Sandbox {Id} throttled: what it sends beyond {BytesPerSecond} bytes/s is dropped")]
    private static partial void LogThrottled(ILogger logger, string id, long bytesPerSecond);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Sandbox {Id} quarantined: all its traffic is dropped")]
    private static partial void LogQuarantined(ILogger logger, string id);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Sandbox {Id} released from quarantine")]
    private static partial void LogReleased(ILogger logger, string id);

    [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "Sandbox {Id} may reach {Destination} port {Port} until {NotAfter}")]
    private static partial void LogOpened(ILogger logger, string id, string destination, string port, DateTimeOffset notAfter);
}
