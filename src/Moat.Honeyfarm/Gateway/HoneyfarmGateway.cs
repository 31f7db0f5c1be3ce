using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Dns;
using Moat.Honeyfarm.Interop;
using Moat.Honeyfarm.Limits;
using Moat.Honeyfarm.Packets;
using Moat.Honeyfarm.Records;
using Moat.Honeyfarm.Universes;
using Moat.Linux;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

namespace Moat.Honeyfarm.Gateway;

/// <summary>
/// The honeyfarm gateway (Potemkin): owns a dark range inside a network namespace through a TUN device, opens a
/// universe per outside source, late-binds each address on its first packet to a clone claimed from a warm pool,
/// and from then on lets the kernel forward that address's packets straight to the clone (a /32 route in the
/// universe's table). Only first packets, and packets arriving while a clone is being claimed, pass through here.
/// </summary>
public sealed partial class HoneyfarmGateway : IAsyncDisposable
{
    private const uint ClonePriority = 100;
    private const uint SourcePriority = 200;
    private const uint FirstTable = 1000;
    private const int MaxPacket = 65535;

    private readonly NetworkNamespace _namespace;
    private readonly HoneyfarmOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly RtNetlink _rtnl;
    private readonly ContainmentRules _rules;
    private readonly ScanFilter _scanFilter;
    private readonly CloneServicesFactory _services;
    private readonly CloneWatch? _watch;
    private UniverseCapture? _capture;
    private long _dnsAnswered;
    private long _dnsMalformed;
    private readonly ConcurrentQueue<KeptClone> _kept = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, Universe> _bySource = [];

    // The shared universe's sources, least recently seen first: the ones a new source replaces when MaxSources are known.
    private readonly LinkedList<uint> _sharedBySeen = new();
    private readonly Dictionary<uint, LinkedListNode<uint>> _sharedSeen = [];
    private TokenBucket _newSources;

    // The clone links someone completed a TCP handshake with, as the containment table said at _provenAt; a clone bound
    // at least ProofWindow before that reading and absent from it is serving no proven peer (a spoofed SYN's clone).
    private static readonly TimeSpan ProofWindow = TimeSpan.FromSeconds(1);
    private HashSet<string> _proven = [];
    private long _provenAt;
    private int _provenReading;
    private readonly TimeSpan _sweepPeriod;
    private readonly List<Universe> _universes = [];
    private readonly Dictionary<Personality, ConcurrentQueue<Clone>> _warm;
    private readonly SemaphoreSlim _refillSignal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _claims = [];
    private readonly uint _darkBase;
    private readonly uint _resolver = PacketHeader.ToUInt32(DnsSinkholeAnswer.ResolverAddress);
    private readonly uint _darkMask;
    private readonly string _suffix;
    private TunDevice? _ingress;
    private Thread? _ingressReader;
    private Task? _refill;
    private ITimer? _sweepTimer;
    private Universe? _shared;
    private int _liveClones;
    private int _disposed;
    private int _cloneSequence;
    private int _universeSequence;
    private HoneyfarmCounters _counters;

    private HoneyfarmGateway(NetworkNamespace ns, HoneyfarmOptions options, TimeProvider time, Random random, ILogger logger)
    {
        _namespace = ns;
        _options = options;
        _time = time;
        _random = random;
        _logger = logger;
        _rtnl = RtNetlink.OpenIn(ns);
        _rules = new ContainmentRules(ns.Name, options.OutsideInterface, options.Export, options.ScrubbedDns ? options.DnsQueriesPerSecond : null);
        _scanFilter = new ScanFilter(options.ScanFilterInterval, time, options.ScanFilterCapacity);
        _warm = options.AllPersonalities.ToDictionary(p => p, _ => new ConcurrentQueue<Clone>());
        if (options.Containers is { } containers)
        {
            // Clones' layers and kept changes are intruders' files: root's alone (an older farm left it 0755).
            Directory.CreateDirectory(containers.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(containers.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            _watch = CloneWatch.Start(containers.IsGvisor ? containers.StateDir : null);
            _services = ContainerServices.Factory(containers, _watch);
        }
        else
        {
            _services = Responder.Factory(options.UdpReplies, time);
        }
        _darkBase = PacketHeader.ToUInt32(options.DarkRange.BaseAddress);
        _darkMask = options.DarkRange.PrefixLength == 0 ? 0 : uint.MaxValue << (32 - options.DarkRange.PrefixLength);
        // The sweep refreshes every clone's last activity; it runs at least twice per RecycleAfterIdle so that a clone
        // that moved packets since the last sweep never looks idle long enough to be recycled.
        var period = Math.Clamp(options.IdleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks, TimeSpan.FromSeconds(30).Ticks);
        if (options.RecycleAfterIdle > TimeSpan.Zero)
        {
            period = Math.Max(TimeSpan.FromMilliseconds(250).Ticks, Math.Min(period, options.RecycleAfterIdle.Ticks / 2));
        }

        _sweepPeriod = TimeSpan.FromTicks(period);
        _suffix = random.Next(0x100000, 0xffffff).ToString("x6", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The settings it runs with.</summary>
    public HoneyfarmOptions Options => _options;

    /// <summary>Counters since start.</summary>
    public HoneyfarmCounters Counters
    {
        get
        {
            lock (_gate)
            {
                return _counters with { Sources = _bySource.Count, ScanFilterForgotten = _scanFilter.Forgotten, LiveClones = _liveClones, WarmClones = _warm.Values.Sum(q => q.Count), DnsAnswered = Interlocked.Read(ref _dnsAnswered), DnsMalformed = Interlocked.Read(ref _dnsMalformed), PacketsCaptured = _capture?.Packets ?? 0, CaptureTruncated = _capture?.Truncated ?? 0 };
            }
        }
    }

    /// <summary>
    /// Takes over the dark range in <paramref name="ns"/> (whose outside interface the caller has set up): the
    /// ingress TUN device and its route, forwarding, the containment table, and a filled warm pool.
    /// </summary>
    public static async Task<HoneyfarmGateway> StartAsync(
        NetworkNamespace ns,
        HoneyfarmOptions options,
        TimeProvider? time = null,
        Random? random = null,
        ILogger? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var gateway = new HoneyfarmGateway(ns, options, time ?? TimeProvider.System, random ?? Random.Shared, logger ?? NullLogger.Instance);
        try
        {
            await gateway.SetUpAsync(cancellationToken).ConfigureAwait(false);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task SetUpAsync(CancellationToken cancellationToken)
    {
        if (_rtnl.GetLinkIndex(_options.OutsideInterface) is null)
        {
            throw new ArgumentException($"Outside interface {_options.OutsideInterface} does not exist in namespace {_namespace.Name}; name the link that faces the attackers.");
        }

        if (_options.Containers is { } containers)
        {
            foreach (var kept in await ContainerServices.ReclaimAsync(containers, cancellationToken).ConfigureAwait(false))
            {
                _kept.Enqueue(kept);
                _counters = _counters with { ClonesKept = _counters.ClonesKept + 1 };
                LogKept(_logger, kept.Name, kept.Describe, kept.Files.Count, kept.Processes.Count, kept.Folder);
            }
        }

        Sysctl.Write(_namespace, "net.ipv4.ip_forward", "1");
        Sysctl.Write(_namespace, "net.ipv4.conf.all.rp_filter", "0");
        Sysctl.Write(_namespace, "net.ipv4.conf.default.rp_filter", "0");

        // The farm is IPv4; without this every new TUN device would send router solicitations into the gateway.
        Sysctl.Write(_namespace, "net.ipv6.conf.default.disable_ipv6", "1");
        await _rules.ApplyAsync(cancellationToken).ConfigureAwait(false);
        if (_options.CaptureDir is { } captures)
        {
            _capture = UniverseCapture.Start(_namespace, captures, _options.CaptureBytesPerUniverse);
        }

        _ingress = NamespaceRunner.Run(_namespace, () => TunDevice.Create("hf0"));
        var index = _rtnl.GetLinkIndex("hf0") ?? throw new HoneyfarmException("The ingress TUN device hf0 vanished right after it was made.");
        _rtnl.Execute(new NetlinkBatch()
            .SetLinkUp(index)
            .ReplaceRoute(new RouteSpec(_options.DarkRange, index) { Scope = RouteScope.Link }));

        foreach (var (personality, pool) in _warm)
        {
            for (var i = 0; i < _options.WarmClones; i++)
            {
                pool.Enqueue(await PrepareCloneAsync(personality, cancellationToken).ConfigureAwait(false));
            }
        }

        _ingressReader = StartReader("moat-hf-ingress", _ingress, HandleIngress);
        _refill = Task.Run(RefillLoopAsync, CancellationToken.None);
        _sweepTimer = _time.CreateTimer(_ => _ = SweepIdleAsync(), null, _sweepPeriod, _sweepPeriod);
    }

    private Thread StartReader(string name, TunDevice tun, PacketHandler handler, Func<bool>? closed = null)
    {
        var thread = new Thread(() =>
        {
            var buffer = new byte[MaxPacket];
            while (!_stop.IsCancellationRequested && closed?.Invoke() != true)
            {
                int n;
                try
                {
                    n = tun.Read(buffer, 200);
                }
                catch (HoneyfarmSystemException e)
                {
                    if (!_stop.IsCancellationRequested)
                    {
                        LogReaderFailed(_logger, tun.Name, e);
                    }

                    return;
                }

                if (n > 0)
                {
                    try
                    {
                        handler(buffer.AsSpan(0, n));
                    }
                    catch (Exception e) when (e is HoneyfarmException or LinuxException)
                    {
                        LogPacketFailed(_logger, tun.Name, e);
                    }
                }
            }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        return thread;
    }

    private delegate void PacketHandler(ReadOnlySpan<byte> packet);

    private bool InDarkRange(uint address) => (address & _darkMask) == _darkBase;

    /// <summary>A first packet from the outside: find or open the source's universe and hand the packet to it.</summary>
    private void HandleIngress(ReadOnlySpan<byte> packet)
    {
        if (!Parse(packet, out var header))
        {
            return;
        }

        Universe? universe;
        lock (_gate)
        {
            _counters = _counters with { PacketsIn = _counters.PacketsIn + 1 };
            if (!InDarkRange(header.Destination) || InDarkRange(header.Source))
            {
                _counters = _counters with { Dropped = _counters.Dropped + 1 };
                return;
            }

            universe = UniverseFor(header.Source);
            if (universe is null)
            {
                return;
            }
        }

        universe.Tun.Write(packet);
    }

    /// <summary>A packet in a universe to an address no clone holds yet (or whose clone is being claimed).</summary>
    private void HandleUniverse(Universe universe, ReadOnlySpan<byte> packet)
    {
        if (!Parse(packet, out var header))
        {
            return;
        }

        if (_options.ScrubbedDns && header.Protocol == PacketHeader.Udp && header.DestinationPort == 53 && header.Destination == _resolver)
        {
            AnswerDns(universe, packet, header);
            return;
        }

        Binding binding;
        Clone? evicted = null;
        lock (_gate)
        {
            _counters = _counters with { PacketsIn = _counters.PacketsIn + 1 };
            if (universe.Bindings.TryGetValue(header.Destination, out var existing))
            {
                if (existing.Clone is null)
                {
                    if (existing.Pending.Count < _options.BufferedPacketsPerBinding)
                    {
                        existing.Pending.Add(packet.ToArray());
                        _counters = _counters with { Buffered = _counters.Buffered + 1 };
                    }
                    else
                    {
                        _counters = _counters with { Dropped = _counters.Dropped + 1 };
                    }

                    return;
                }

                // Bound while this packet was on its way here: the route is in place now, so the kernel delivers it.
                universe.Tun.Write(packet);
                return;
            }

            if (header.IsLaterFragment || header.Destination == universe.Attacker || !_scanFilter.TryAdmit(header.Source, header.DestinationPort, header.Protocol))
            {
                _counters = header.IsLaterFragment || header.Destination == universe.Attacker
                    ? _counters with { Dropped = _counters.Dropped + 1 }
                    : _counters with { ScanFiltered = _counters.ScanFiltered + 1 };
                return;
            }

            if (_liveClones >= _options.MaxClones)
            {
                evicted = _options.WhenFull == FullPolicy.RecycleLongestIdle ? TakeLongestIdle() : null;
                if (evicted is null)
                {
                    _counters = _counters with { DroppedFull = _counters.DroppedFull + 1 };
                    return;
                }
            }

            binding = new Binding(header.Destination);
            binding.Pending.Add(packet.ToArray());
            universe.Bindings.Add(header.Destination, binding);
            _liveClones++;
            if (header.Source != universe.Attacker && universe.Bindings.TryGetValue(header.Source, out var infected) && infected.Clone is not null)
            {
                universe.Infections.Add((header.Source, header.Destination));
            }
        }

        var peer = universe.Attacker ?? header.Source;
        var claim = ClaimAsync(universe, binding, peer, evicted);
        lock (_gate)
        {
            _claims.RemoveAll(t => t.IsCompleted);
            _claims.Add(claim);
        }
    }

    private bool Parse(ReadOnlySpan<byte> packet, out PacketHeader header)
    {
        if (PacketHeader.TryParse(packet, out header) == PacketError.None)
        {
            return true;
        }

        lock (_gate)
        {
            _counters = _counters with { Malformed = _counters.Malformed + 1 };
        }

        return false;
    }

    /// <summary>The universe's resolver: answered from the dark range, written back into the universe's TUN device (the kernel routes it to the asking clone).</summary>
    private void AnswerDns(Universe universe, ReadOnlySpan<byte> packet, PacketHeader header)
    {
        Span<byte> reply = stackalloc byte[28 + 512];
        if (!DnsSinkholeAnswer.TryAnswerPacket(packet, reply, _options.DarkRange, out var length, out var name))
        {
            Interlocked.Increment(ref _dnsMalformed);
            return;
        }

        LogDnsQuery(_logger, header.SourceAddress, universe.Id, name!);
        universe.Tun.Write(reply[..length]);
        Interlocked.Increment(ref _dnsAnswered);
    }

    private async Task ClaimAsync(Universe universe, Binding binding, uint peer, Clone? evicted)
    {
        await Task.Yield();
        Clone? clone = null;
        try
        {
            if (evicted is not null)
            {
                await RetireAsync(evicted).ConfigureAwait(false);
            }

            var personality = _options.PersonalityOf(PacketHeader.ToAddress(binding.Address));
            if (!_warm[personality].TryDequeue(out clone))
            {
                clone = await PrepareCloneAsync(personality, _stop.Token).ConfigureAwait(false);
            }

            _refillSignal.Release();
            var address = PacketHeader.ToAddress(binding.Address);
            clone.Bind(_rtnl, universe.Id, universe.Table, address, ClonePriority);
            if (_capture is not null && _rtnl.GetLinkIndex(clone.HostInterface) is { } link)
            {
                _capture.Attach(link, universe.Id);
            }

            if (_options.Export == ExportPolicy.ReplyOnly)
            {
                await _rules.AllowPeerAsync(clone.HostInterface, PacketHeader.ToAddress(peer).ToString(), _stop.Token).ConfigureAwait(false);
            }

            byte[][] pending;
            bool closed;
            lock (_gate)
            {
                closed = universe.Closed;
                if (closed)
                {
                    _liveClones--; // closed while this claim ran: the clone never serves
                    pending = [];
                }
                else
                {
                    clone.BoundAt = clone.LastActivity = _time.GetTimestamp();
                    binding.Clone = clone;
                    pending = [.. binding.Pending];
                    binding.Pending.Clear();
                    _counters = _counters with { ClonesBound = _counters.ClonesBound + 1 };
                }
            }

            if (closed)
            {
                await RetireAsync(clone).ConfigureAwait(false);
                return;
            }

            LogBound(_logger, address, universe.Id, clone.Name);
            foreach (var packet in pending)
            {
                universe.Tun.Write(packet);
            }
        }
        catch (Exception e) when (e is HoneyfarmException or LinuxException or OperationCanceledException or Moat.Host.MoatHostException or IOException)
        {
            LogClaimFailed(_logger, PacketHeader.ToAddress(binding.Address), universe.Id, e);
            lock (_gate)
            {
                universe.Bindings.Remove(binding.Address);
                _liveClones--;
            }

            if (clone is not null)
            {
                await clone.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Under the lock: unbinds a clone for a new address (the full-farm policy) and returns it for retirement. Only a
    /// clone no peer has proven itself to (no completed TCP handshake: a spoofed first packet's clone), or one idle for
    /// <see cref="HoneyfarmOptions.RecycleAfterIdle"/>, may go; unproven ones first, then the longest idle. None when
    /// every clone is serving a proven peer or was just bound; the proven set is then read again (at most once per
    /// <see cref="ProofWindow"/>) for the next first packet.
    /// </summary>
    private Clone? TakeLongestIdle()
    {
        (Universe U, Binding B, bool Proven)? oldest = null;
        var now = _time.GetTimestamp();
        foreach (var u in _universes)
        {
            foreach (var b in u.Bindings.Values)
            {
                if (b.Clone is not { } c)
                {
                    continue;
                }

                var proven = _proven.Contains(c.HostInterface) || _time.GetElapsedTime(c.BoundAt, _provenAt) < ProofWindow;
                if ((!proven || _time.GetElapsedTime(c.LastActivity, now) >= _options.RecycleAfterIdle)
                    && (oldest is not { } best || (!proven && best.Proven) || (proven == best.Proven && c.LastActivity < best.B.Clone!.LastActivity)))
                {
                    oldest = (u, b, proven);
                }
            }
        }

        if (oldest is not { } o)
        {
            ReadProvenSoon();
            return null;
        }

        o.U.Bindings.Remove(o.B.Address);
        _liveClones--;
        _counters = _counters with { ClonesRecycled = _counters.ClonesRecycled + 1 };
        return o.B.Clone;
    }

    /// <summary>Under the lock: starts reading the proven set unless a reading runs or the last one is under ProofWindow old.</summary>
    private void ReadProvenSoon()
    {
        if (_time.GetElapsedTime(_provenAt) < ProofWindow || Interlocked.Exchange(ref _provenReading, 1) != 0)
        {
            return;
        }

        _claims.RemoveAll(t => t.IsCompleted); // the sweep reads too, with no claim running to tidy the list
        _claims.Add(Task.Run(ReadProvenAsync));
    }

    private async Task ReadProvenAsync()
    {
        try
        {
            var at = _time.GetTimestamp();
            var proven = await _rules.ProvenLinksAsync(_stop.Token).ConfigureAwait(false);
            lock (_gate)
            {
                _proven = proven;
                _provenAt = at;
            }
        }
        catch (Exception e) when (e is HoneyfarmException or OperationCanceledException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            if (!_stop.IsCancellationRequested)
            {
                LogProvenFailed(_logger, e);
            }
        }
        finally
        {
            Volatile.Write(ref _provenReading, 0);
        }
    }

    /// <summary>Clones kept for analysis since start (their state changed), oldest first.</summary>
    public IReadOnlyList<KeptClone> KeptClones => [.. _kept];

    private async Task RetireAsync(Clone clone)
    {
        if (_capture is not null && _rtnl.GetLinkIndex(clone.HostInterface) is { } link)
        {
            _capture.Detach(link);
        }

        try
        {
            // Only a clone whose state is judged (a sandbox clone) needs the table asked whether it reached out.
            var outbound = _options.Containers is not null && clone.Address is not null
                && await _rules.AttemptedOutboundAsync(clone.HostInterface, CancellationToken.None).ConfigureAwait(false);
            if (await clone.RetireAsync(_rtnl, outbound, CancellationToken.None).ConfigureAwait(false) is { } kept)
            {
                _kept.Enqueue(kept);
                lock (_gate)
                {
                    _counters = _counters with { ClonesKept = _counters.ClonesKept + 1 };
                }

                LogKept(_logger, clone.Name, kept.Describe, kept.Files.Count, kept.Processes.Count, kept.Folder);
            }
        }
        catch (Exception e) when (e is LinuxException or HoneyfarmException)
        {
            LogRetireFailed(_logger, clone.Name, e);
        }
    }

    private Task<Clone> PrepareCloneAsync(Personality personality, CancellationToken cancellationToken)
    {
        int n;
        CloneIdentity identity;
        lock (_gate)
        {
            n = ++_cloneSequence;
            identity = CloneIdentity.Create(_random);
        }

        var hex = n.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        return Clone.PrepareAsync(_rtnl, $"hf{_suffix}c{hex}", ContainmentRules.ClonePrefix + hex, personality, identity, _services, cancellationToken);
    }

    private async Task RefillLoopAsync()
    {
        var token = _stop.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await _refillSignal.WaitAsync(token).ConfigureAwait(false);
                foreach (var (personality, pool) in _warm)
                {
                    while (!token.IsCancellationRequested && pool.Count < _options.WarmClones)
                    {
                        pool.Enqueue(await PrepareCloneAsync(personality, token).ConfigureAwait(false));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        catch (Exception e) when (e is LinuxException or HoneyfarmException or Moat.Host.MoatHostException or IOException)
        {
            LogRefillFailed(_logger, e);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Bound {Address} in universe {Universe} to clone {Clone}")]
    private static partial void LogBound(ILogger logger, IPAddress address, int universe, string clone);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Claiming a clone for {Address} in universe {Universe} failed; the address stays dark")]
    private static partial void LogClaimFailed(ILogger logger, IPAddress address, int universe, Exception e);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Reading TUN device {Device} failed; the gateway no longer serves it")]
    private static partial void LogReaderFailed(ILogger logger, string device, Exception e);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Handling a packet from {Device} failed")]
    private static partial void LogPacketFailed(ILogger logger, string device, Exception e);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "DNS from clone {Clone} in universe {Universe}: {Name}")]
    private static partial void LogDnsQuery(ILogger logger, IPAddress clone, int universe, string name);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Kept clone {Clone} ({Describe}): {Files} file changes, {Processes} processes left running; evidence in {Folder}")]
    private static partial void LogKept(ILogger logger, string clone, string describe, int files, int processes, string folder);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Retiring clone {Clone} failed")]
    private static partial void LogRetireFailed(ILogger logger, string clone, Exception e);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Reading which clones serve a proven peer failed; a full farm recycles only idle clones until it succeeds")]
    private static partial void LogProvenFailed(ILogger logger, Exception e);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Refilling the warm pool failed; claims now prepare clones on demand")]
    private static partial void LogRefillFailed(ILogger logger, Exception e);
}

/// <summary>What the gateway has done since it started.</summary>
public readonly record struct HoneyfarmCounters(
    long PacketsIn,
    long Malformed,
    long Dropped,
    long Buffered,
    long ScanFiltered,
    long DroppedFull,
    long ClonesBound,
    long ClonesRecycled,
    int LiveClones,
    int WarmClones,
    int Universes,
    long ClonesKept = 0,
    long UniversesClosed = 0,
    long DnsAnswered = 0,
    long DnsMalformed = 0,
    long PacketsCaptured = 0,
    long CaptureTruncated = 0,
    int Sources = 0,
    long SourcesRefused = 0,
    long SourcesEvicted = 0,
    long ScanFilterForgotten = 0);
