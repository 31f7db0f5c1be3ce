using System.Net;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Interop;
using Moat.Honeyfarm.Packets;
using Moat.Honeyfarm.Universes;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Gateway;

public sealed partial class HoneyfarmGateway
{
    /// <summary>
    /// Under the lock: the universe of an outside source, opened (with its table, TUN and rules) on its first packet; null
    /// when a new source is over <see cref="HoneyfarmOptions.NewSourcesPerSecond"/> (dropped and counted). Known sources
    /// are never limited. At <see cref="HoneyfarmOptions.MaxSources"/> a new source replaces the shared universe's least
    /// recently seen source, so neither the gateway's tables nor the kernel's rules grow with a spoofed flood.
    /// </summary>
    private Universe? UniverseFor(uint source)
    {
        var now = _time.GetTimestamp();
        if (_bySource.TryGetValue(source, out var known))
        {
            known.LastActivity = now;
            if (_sharedSeen.TryGetValue(source, out var seen))
            {
                _sharedBySeen.Remove(seen);
                _sharedBySeen.AddLast(seen);
            }

            return known;
        }

        if (!_newSources.TryTake(_options.NewSourcesPerSecond, _options.NewSourcesPerSecond, now, _time))
        {
            _counters = _counters with { SourcesRefused = _counters.SourcesRefused + 1 };
            return null;
        }

        if (_bySource.Count >= _options.MaxSources && _sharedBySeen.First is { } stalest)
        {
            // Dedicated universes hold fewer sources than MaxSources (validated), so the shared one has one to give.
            EvictSharedSource(stalest.Value);
        }

        Universe universe;
        if (_universes.Count >= _options.MaxUniverses || (_options.SharedFraction > 0 && _random.NextDouble() < _options.SharedFraction))
        {
            universe = _shared ??= OpenUniverse(null);
        }
        else
        {
            universe = OpenUniverse(source);
        }

        AddSource(universe, source);
        _bySource[source] = universe;
        if (ReferenceEquals(universe, _shared))
        {
            _sharedSeen[source] = _sharedBySeen.AddLast(source);
        }

        _counters = _counters with { Universes = _universes.Count };
        return universe;
    }

    private Universe OpenUniverse(uint? attacker)
    {
        var id = ++_universeSequence;
        var table = FirstTable + (uint)id;
        var name = ContainmentRules.UniverseTunPrefix + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tun = NamespaceRunner.Run(_namespace, () => TunDevice.Create(name));
        try
        {
            var index = _rtnl.GetLinkIndex(name) ?? throw new HoneyfarmException($"Universe device {name} vanished right after it was made.");
            var batch = new NetlinkBatch()
                .SetLinkUp(index)
                .ReplaceRoute(new RouteSpec(_options.DarkRange, index) { Scope = RouteScope.Link, Table = table });
            if (_options.Export == ExportPolicy.Reflect)
            {
                // Everything a clone sends that is not a reply to its universe's sources comes back into the farm.
                batch.ReplaceRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), index) { Scope = RouteScope.Link, Table = table });
            }

            if (_options.ScrubbedDns)
            {
                // The universe's resolver is the gateway, reached through the universe's own device.
                batch.ReplaceRoute(new RouteSpec(new IPNetwork(Dns.DnsSinkholeAnswer.ResolverAddress, 32), index) { Scope = RouteScope.Link, Table = table });
            }

            batch.AddRule(new RuleSpec(ClonePriority, table) { InputInterface = name });
            _rtnl.Execute(batch);
            var universe = new Universe(id, attacker, table, tun) { LastActivity = _time.GetTimestamp() };
            _capture?.Attach(index, id);
            universe.Reader = StartReader("moat-hf-u" + id, tun, p => HandleUniverse(universe, p), () => universe.Closed);
            _universes.Add(universe);
            return universe;
        }
        catch
        {
            tun.Dispose();
            throw;
        }
    }

    /// <summary>Sends a source's packets to the dark range through the universe's table, and (under reflection) its clones' replies back out.</summary>
    private void AddSource(Universe universe, uint source)
    {
        var address = PacketHeader.ToAddress(source);
        var batch = new NetlinkBatch().AddRule(new RuleSpec(SourcePriority, universe.Table) { Source = new IPNetwork(address, 32), Destination = _options.DarkRange });
        if (_options.Export == ExportPolicy.Reflect)
        {
            var outside = _rtnl.GetLinkIndex(_options.OutsideInterface) ?? throw new HoneyfarmException($"Outside interface {_options.OutsideInterface} vanished.");
            batch.ReplaceRoute(_options.OutsideGateway is { } via
                ? new RouteSpec(new IPNetwork(address, 32), outside) { Gateway = via, Table = universe.Table }
                : new RouteSpec(new IPNetwork(address, 32), outside) { Scope = RouteScope.Link, Table = universe.Table });
        }

        _rtnl.Execute(batch);
        universe.Sources.Add(source);
    }

    /// <summary>Under the lock: forgets a shared-universe source and removes its rule (and route); its next packet is a new source's.</summary>
    private void EvictSharedSource(uint source)
    {
        var universe = _bySource[source];
        _sharedBySeen.Remove(_sharedSeen[source]);
        _sharedSeen.Remove(source);
        _bySource.Remove(source);
        universe.Sources.Remove(source);
        RemoveSource(universe, source, _rtnl.GetLinkIndex(_options.OutsideInterface));
        _counters = _counters with { SourcesEvicted = _counters.SourcesEvicted + 1 };
    }

    /// <summary>
    /// Closes a universe: its clones are retired (those whose state changed are kept for analysis), its sources' rules
    /// and routes, its TUN device and its table go. A later packet from one of its sources opens a new universe.
    /// Returns false when no open universe has that id.
    /// </summary>
    public async Task<bool> CloseUniverseAsync(int id)
    {
        Universe? universe;
        List<Clone> clones;
        lock (_gate)
        {
            universe = _universes.Find(u => u.Id == id);
            if (universe is null)
            {
                return false;
            }

            universe.Closed = true;
            _universes.Remove(universe);
            foreach (var source in universe.Sources)
            {
                _bySource.Remove(source);
            }

            if (ReferenceEquals(_shared, universe))
            {
                _shared = null;
                _sharedBySeen.Clear();
                _sharedSeen.Clear();
            }

            clones = [.. universe.Bindings.Values.Where(b => b.Clone is not null).Select(b => b.Clone!)];
            _liveClones -= clones.Count;
            _counters = _counters with { Universes = _universes.Count, UniversesClosed = _counters.UniversesClosed + 1 };
        }

        universe.Reader?.Join();
        foreach (var clone in clones)
        {
            await RetireAsync(clone).ConfigureAwait(false);
        }

        RemoveNetwork(universe);
        _capture?.Close(universe.Id);
        return true;
    }

    /// <summary>Removes a universe's rules, its sources' routes in its table and its TUN device (with the routes through it).</summary>
    private void RemoveNetwork(Universe universe)
    {
        if (_capture is not null && _rtnl.GetLinkIndex(universe.Tun.Name) is { } tun)
        {
            _capture.Detach(tun);
        }

        _rtnl.DeleteRule(new RuleSpec(ClonePriority, universe.Table) { InputInterface = universe.Tun.Name });
        var outside = _rtnl.GetLinkIndex(_options.OutsideInterface);
        foreach (var s in universe.Sources)
        {
            RemoveSource(universe, s, outside);
        }

        universe.Tun.Dispose();
    }

    /// <summary>Removes the rule steering a source into a universe's table, and under reflection its route out.</summary>
    private void RemoveSource(Universe universe, uint source, int? outside)
    {
        var address = new IPNetwork(PacketHeader.ToAddress(source), 32);
        _rtnl.DeleteRule(new RuleSpec(SourcePriority, universe.Table) { Source = address, Destination = _options.DarkRange });
        if (_options.Export == ExportPolicy.Reflect && outside is { } index)
        {
            _rtnl.DeleteRoute(new RouteSpec(address, index) { Table = universe.Table });
        }
    }

    /// <summary>The universes, their clones and their chains of infection, as they are now.</summary>
    public IReadOnlyList<UniverseStatus> Universes()
    {
        lock (_gate)
        {
            return [.. _universes.Select(u => new UniverseStatus(
                u.Id,
                u.Attacker is { } a ? PacketHeader.ToAddress(a) : null,
                [.. u.Bindings.Values.Where(b => b.Clone is not null).Select(b => Status(b.Clone!))],
                [.. u.Infections.Select(i => (PacketHeader.ToAddress(i.From), PacketHeader.ToAddress(i.To)))],
                _capture?.PathOf(u.Id)))];
        }
    }

    private static CloneStatus Status(Clone c) => new(c.Address!, c.Universe!.Value, c.Name, c.Identity.HostName, c.Contacts, c.Personality.Name);

    /// <summary>Packets from clones that the export policy dropped.</summary>
    public Task<long> BlockedPacketsAsync(CancellationToken cancellationToken = default) => _rules.BlockedPacketsAsync(cancellationToken);

    /// <summary>
    /// Recycles clones whose links moved no packet for <see cref="HoneyfarmOptions.IdleTimeout"/>. Runs on a timer;
    /// callable directly (tests, operators).
    /// </summary>
    public async Task<int> SweepIdleAsync()
    {
        lock (_gate)
        {
            ReadProvenSoon();
        }

        Dictionary<string, long> packets;
        try
        {
            packets = await NamespaceRunner.RunAsync(_namespace, ReadPacketCounts).ConfigureAwait(false);
        }
        catch (IOException)
        {
            return 0;
        }

        var idle = new List<Clone>();
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            foreach (var u in _universes)
            {
                foreach (var b in u.Bindings.Values.ToArray())
                {
                    if (b.Clone is not { } c)
                    {
                        continue;
                    }

                    var count = packets.GetValueOrDefault(c.HostInterface);
                    if (count != c.LastPacketCount)
                    {
                        c.LastPacketCount = count;
                        c.LastActivity = now;
                    }
                    else if (_time.GetElapsedTime(c.LastActivity, now) >= _options.IdleTimeout)
                    {
                        u.Bindings.Remove(b.Address);
                        _liveClones--;
                        idle.Add(c);
                    }
                }
            }

            _counters = _counters with { ClonesRecycled = _counters.ClonesRecycled + idle.Count };
        }

        foreach (var c in idle)
        {
            await RetireAsync(c).ConfigureAwait(false);
        }

        // A universe with no clone left and no packet from its sources for as long is closed too: its device, table and
        // rules go, and a later packet from its source opens a new one.
        List<int> quiet;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            quiet = [.. _universes.Where(u => u.Bindings.Count == 0 && _time.GetElapsedTime(u.LastActivity, now) >= _options.IdleTimeout).Select(u => u.Id)];
        }

        foreach (var id in quiet)
        {
            await CloseUniverseAsync(id).ConfigureAwait(false);
        }

        return idle.Count;
    }

    /// <summary>Packets received plus sent per interface of the calling thread's namespace (/proc/thread-self/net/dev).</summary>
    private static Dictionary<string, long> ReadPacketCounts()
    {
        var result = new Dictionary<string, long>();
        foreach (var line in File.ReadLines("/proc/thread-self/net/dev").Skip(2))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 10 && long.TryParse(fields[1], out var rx) && long.TryParse(fields[9], out var tx))
            {
                result[line[..colon].Trim()] = rx + tx;
            }
        }

        return result;
    }

    /// <summary>Stops reading, retires every clone, removes the TUN devices, rules, routes and the containment table.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_sweepTimer is not null)
        {
            await _sweepTimer.DisposeAsync().ConfigureAwait(false);
        }

        _ingressReader?.Join();
        List<Universe> universes;
        Task[] claims;
        lock (_gate)
        {
            universes = [.. _universes];
            claims = [.. _claims];
        }

        foreach (var u in universes)
        {
            u.Reader?.Join();
        }

        await Task.WhenAll(claims).ConfigureAwait(false);
        if (_refill is not null)
        {
            await _refill.ConfigureAwait(false);
        }

        foreach (var u in universes)
        {
            foreach (var b in u.Bindings.Values)
            {
                if (b.Clone is { } c)
                {
                    await RetireAsync(c).ConfigureAwait(false);
                }
            }

            RemoveNetwork(u);
        }

        foreach (var pool in _warm.Values)
        {
            while (pool.TryDequeue(out var warm))
            {
                await warm.DisposeAsync().ConfigureAwait(false);
            }
        }

        _ingress?.Dispose();
        try
        {
            await _rules.RemoveAsync().ConfigureAwait(false);
        }
        catch (HoneyfarmException e)
        {
            LogRetireFailed(_logger, ContainmentRules.Table, e);
        }

        Moat.Linux.Plumbing.SandboxLink.ReapRetired(_rtnl);
        _rtnl.Dispose();
        _refillSignal.Dispose();
        _stop.Dispose();
    }
}
