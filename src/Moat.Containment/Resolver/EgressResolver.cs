using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Containment.Dns;
using Moat.Containment.Names;
using Moat.Detect.Detectors;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Resolver;

/// <summary>
/// The host's egress resolver: sandboxes' only DNS (the rules refuse every other), answering a name only when the
/// sandbox may reach it (REFUSED otherwise) and putting the answer's addresses into the sandbox's nftables name set,
/// with the TTL (bounded) as timeout, before the answer leaves — so the sandbox's first connection finds its rule.
/// It reads hostile DNS from both sides with <see cref="DnsMessage"/>, takes from an upstream answer only the records
/// of the question's name and its CNAME chain, and writes every answer afresh (<see cref="DnsWriter"/>).
/// </summary>
public sealed partial class EgressResolver : IAsyncDisposable, IDisposable
{
    private const int MaxChain = 8;

    private readonly EgressResolverOptions _options;
    private readonly INameSets _sets;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly NetworkNamespace? _namespace;
    private readonly DnsTunnelGuard _tunnel;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SandboxState> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<IPAddress, SandboxState> _byAddress = [];
    private long _queries, _answered, _refused, _malformed, _upstreamFailures, _unknown, _admitted, _tunnelAlerts, _rateLimited;

    /// <param name="ns">The namespace whose sockets it uses (the host's; tests pass their own); null: the caller's.</param>
    public EgressResolver(EgressResolverOptions options, INameSets sets, TimeProvider? time = null, ILogger? logger = null, NetworkNamespace? ns = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sets);
        options.Validate();
        _options = options;
        _sets = sets;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _namespace = ns;
        _tunnel = new DnsTunnelGuard(options.Tunnel, _time);
    }

    /// <summary>
    /// Raised for every query refused by name (not listed, denied, a CNAME to a denied name): the flow log's "refused
    /// by name". Queries over the sandbox's rate or its tunnel limit are only counted (<see cref="EgressResolverCounters.RateLimited"/>).
    /// </summary>
    public event Action<NameRefusal>? Refused;

    /// <summary>Raised when a sandbox is caught using DNS as a tunnel (kind <see cref="DnsTunnelGuard.Kind"/>).</summary>
    public event Action<Alert>? TunnelCaught;

    public EgressResolverOptions Options => _options;

    public EgressResolverCounters Counters => new(
        Interlocked.Read(ref _queries), Interlocked.Read(ref _answered), Interlocked.Read(ref _refused), Interlocked.Read(ref _malformed),
        Interlocked.Read(ref _upstreamFailures), Interlocked.Read(ref _unknown), Interlocked.Read(ref _admitted), Interlocked.Read(ref _tunnelAlerts), Interlocked.Read(ref _rateLimited));

    /// <summary>
    /// Serves <paramref name="sandbox"/> (or updates it: a policy reload, a new trust); its own names, set earlier with
    /// <see cref="SetSandboxNames"/>, are kept. Addresses of names it may no longer resolve leave its set at once.
    /// </summary>
    public void Register(EgressSandbox sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        SandboxState state;
        lock (_lock)
        {
            if (_byId.TryGetValue(sandbox.Id, out var known))
            {
                _byAddress.Remove(known.Sandbox.Address);
                known.Sandbox = sandbox;
                state = known;
            }
            else
            {
                state = new SandboxState(sandbox, _options.Burst, _time.GetUtcNow());
                _byId[sandbox.Id] = state;
            }

            _byAddress[sandbox.Address] = state;
        }

        Narrow(state);
    }

    /// <summary>Stops serving a sandbox (destroyed); its set goes with its rules.</summary>
    public void Unregister(string id)
    {
        lock (_lock)
        {
            if (_byId.Remove(id, out var state))
            {
                _byAddress.Remove(state.Sandbox.Address);
            }
        }

        _tunnel.Forget(id);
    }

    /// <summary>
    /// Replaces the sandbox's own allow and deny lists (`moat sandbox egress`), live: a newly allowed name is answered
    /// from the next query, a denied one is refused and its addresses leave the sandbox's set before this returns.
    /// Returns the lists now in force (policy and own together).
    /// </summary>
    /// <exception cref="ContainmentInputException">The resolver does not serve that sandbox.</exception>
    public EgressNames SetSandboxNames(string id, EgressNames own)
    {
        ArgumentNullException.ThrowIfNull(own);
        SandboxState state;
        lock (_lock)
        {
            state = _byId.TryGetValue(id, out var s) ? s : throw new ContainmentInputException($"Sandbox '{id}' is not served by this host's egress resolver; give the id of a running sandbox.");
            state.Own = own;
        }

        Narrow(state);
        return state.Effective;
    }

    /// <summary>The sandbox's own lists and the lists in force, or null when it is not served.</summary>
    public (EgressNames Own, EgressNames Effective)? NamesOf(string id)
    {
        lock (_lock)
        {
            return _byId.TryGetValue(id, out var s) ? (s.Own, s.Effective) : null;
        }
    }

    /// <summary>
    /// Answers one query from <paramref name="from"/>: the bytes to send back, or null for none (an unknown sender, a
    /// message that is itself an answer, or one too broken to answer). Never throws for any input.
    /// </summary>
    /// <param name="arrivedOn">For UDP, the name of the interface the query arrived on (null: not known, not checked).
    /// A query from a registered sandbox's address that arrived elsewhere is forged and goes unanswered.</param>
    public async Task<byte[]?> AnswerAsync(IPEndPoint from, ReadOnlyMemory<byte> query, bool overTcp, CancellationToken cancellationToken = default, string? arrivedOn = null)
    {
        ArgumentNullException.ThrowIfNull(from);
        Interlocked.Increment(ref _queries);
        SandboxState? state;
        lock (_lock)
        {
            _byAddress.TryGetValue(from.Address, out state);
        }

        if (state is null)
        {
            Interlocked.Increment(ref _unknown);
            return null;
        }

        if (arrivedOn is not null && state.Sandbox.HostInterface is { } expected && !string.Equals(arrivedOn, expected, StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _unknown);
            LogForged(_logger, state.Sandbox.Id, arrivedOn);
            return null;
        }

        var error = DnsMessage.TryParse(query.Span, out var message);
        if (error != DnsParseError.None || message!.Question is null)
        {
            Interlocked.Increment(ref _malformed);
            LogMalformed(_logger, state.Sandbox.Id, error.ToString());
            // A header that says "query" gets FORMERR; anything that claims to be an answer gets nothing (no reflection).
            return query.Length >= DnsMessage.HeaderLength && (query.Span[2] & 0x80) == 0
                ? DnsWriter.Error((ushort)((query.Span[0] << 8) | query.Span[1]), DnsResponseCode.FormatError)
                : null;
        }

        if (message.IsResponse)
        {
            Interlocked.Increment(ref _malformed);
            return null;
        }

        var question = message.Question;
        var limit = overTcp ? ushort.MaxValue : DnsWriter.UdpLimit;
        byte[] Reply(DnsResponseCode code, IReadOnlyList<DnsRecord>? records, uint ttl) =>
            DnsWriter.Answer(message.Id, message.RecursionDesired, question, code, records ?? [], ttl, limit);

        if (message.Opcode != 0)
        {
            return DnsWriter.Error(message.Id, DnsResponseCode.NotImplemented);
        }

        var sandbox = state.Sandbox;
        var name = question.Key;
        if (!state.TakeToken(_time.GetUtcNow(), _options.QueriesPerSecond, _options.Burst))
        {
            // Counted, not logged one by one: a flood must not become a flood of log lines.
            Interlocked.Increment(ref _refused);
            Interlocked.Increment(ref _rateLimited);
            return Reply(DnsResponseCode.Refused, null, 0);
        }

        if (question.Class != DnsMessage.ClassIn)
        {
            return Refuse(state, from, question, "not-listed", Reply);
        }

        var passes = _tunnel.Observe(sandbox.Id, from.Address, name, out var alert);
        if (alert is not null)
        {
            Interlocked.Increment(ref _tunnelAlerts);
            LogTunnel(_logger, sandbox.Id, alert.Target, alert.Message);
            TunnelCaught?.Invoke(alert);
        }

        if (!passes)
        {
            Interlocked.Increment(ref _refused);
            Interlocked.Increment(ref _rateLimited);
            return Reply(DnsResponseCode.Refused, null, 0);
        }

        var names = state.Effective;
        var decision = names.Decide(name);
        if (decision != NameDecision.Allowed && !(sandbox.Trusted && decision == NameDecision.NotListed))
        {
            return Refuse(state, from, question, decision == NameDecision.Denied ? "denied" : "not-listed", Reply);
        }

        if (question.Type != DnsMessage.TypeA)
        {
            // Only A opens anything (sandboxes are IPv4 only): AAAA, HTTPS, TXT, MX... of an allowed name get no data.
            Interlocked.Increment(ref _answered);
            return Reply(DnsResponseCode.NoError, null, 0);
        }

        var upstream = await ExchangeAsync(question, cancellationToken).ConfigureAwait(false);
        if (upstream is null)
        {
            Interlocked.Increment(ref _upstreamFailures);
            return Reply(DnsResponseCode.ServerFailure, null, 0);
        }

        if (upstream.ResponseCode != DnsResponseCode.NoError)
        {
            Interlocked.Increment(ref _answered);
            return Reply(upstream.ResponseCode == DnsResponseCode.NameError ? DnsResponseCode.NameError : DnsResponseCode.ServerFailure, null, 0);
        }

        var (records, addresses, ttl, deniedTarget) = TakeChain(name, upstream, names);
        if (deniedTarget is not null && !sandbox.Trusted)
        {
            return Refuse(state, from, question, "denied", Reply, deniedTarget);
        }

        var lifetime = TimeSpan.FromSeconds(Math.Clamp(ttl, _options.MinTtl.TotalSeconds, _options.MaxTtl.TotalSeconds));
        if (!sandbox.Trusted && addresses.Count > 0)
        {
            try
            {
                Admit(state, name, addresses, lifetime);
            }
            catch (Exception e) when (e is ContainmentException or Moat.Linux.LinuxException)
            {
                // The answer is not released without its rule: the sandbox retries, the operator reads why.
                Interlocked.Increment(ref _upstreamFailures);
                LogAdmitFailed(_logger, sandbox.Id, name, e.Message);
                return Reply(DnsResponseCode.ServerFailure, null, 0);
            }
        }

        Interlocked.Increment(ref _answered);
        return Reply(DnsResponseCode.NoError, records, (uint)lifetime.TotalSeconds);
    }

    /// <summary>
    /// The records of <paramref name="question"/>'s name and its CNAME chain (at most <see cref="MaxChain"/> links),
    /// in chain order, with the A records at its end; everything else in the answer (records for names not asked,
    /// the cache poisoner's additions) is left out. The TTL is the smallest of the records taken.
    /// </summary>
    internal static (List<DnsRecord> Records, List<IPAddress> Addresses, double Ttl, string? DeniedTarget) TakeChain(string question, DnsMessage answer, EgressNames names)
    {
        var records = new List<DnsRecord>();
        var chain = new List<string> { question };
        var ttl = double.MaxValue;
        var current = question;
        for (var hop = 0; hop < MaxChain; hop++)
        {
            var link = answer.Answers.FirstOrDefault(r => r.Type == DnsMessage.TypeCname && string.Equals(r.Name, current, StringComparison.OrdinalIgnoreCase));
            if (link?.Target is not { } target)
            {
                break;
            }

            current = target.ToLowerInvariant();
            if (chain.Contains(current))
            {
                break; // a CNAME loop in the answer: stop where it closes
            }

            if (names.Decide(current) == NameDecision.Denied)
            {
                return ([], [], 0, current);
            }

            records.Add(link with { Name = chain[^1], Target = current });
            chain.Add(current);
            ttl = Math.Min(ttl, link.Ttl);
        }

        var addresses = new List<IPAddress>();
        foreach (var record in answer.Answers)
        {
            if (record.Type == DnsMessage.TypeA && record.Address is { } address && string.Equals(record.Name, current, StringComparison.OrdinalIgnoreCase) && !addresses.Contains(address))
            {
                addresses.Add(address);
                records.Add(record with { Name = current });
                ttl = Math.Min(ttl, record.Ttl);
            }
        }

        return (records, addresses, addresses.Count == 0 ? 0 : ttl, null);
    }

    private byte[] Refuse(SandboxState state, IPEndPoint from, DnsQuestion question, string reason, Func<DnsResponseCode, IReadOnlyList<DnsRecord>?, uint, byte[]> reply, string? name = null)
    {
        Interlocked.Increment(ref _refused);
        LogRefused(_logger, state.Sandbox.Id, name ?? question.Key, reason);
        Refused?.Invoke(new NameRefusal(_time.GetUtcNow(), state.Sandbox.Id, from.Address, from.Port, name ?? question.Key, question.Type, reason));
        return reply(DnsResponseCode.Refused, null, 0);
    }

    /// <summary>Puts the addresses in the kernel (only those whose entry would live longer than it does now), then remembers them under the name.</summary>
    private void Admit(SandboxState state, string name, List<IPAddress> addresses, TimeSpan lifetime)
    {
        var now = _time.GetUtcNow();
        var until = now + lifetime;
        List<(IPAddress, TimeSpan)> write;
        lock (state)
        {
            write = [.. addresses.Where(a => !state.Expiry.TryGetValue(a, out var known) || known < until - TimeSpan.FromSeconds(1)).Select(a => (a, lifetime))];
        }

        // Serialised per sandbox, so that a live narrowing cannot interleave between the kernel write and the bookkeeping.
        lock (state.Write)
        {
            if (write.Count > 0)
            {
                _sets.AdmitNameAddresses(state.Sandbox.Id, write);
                Interlocked.Add(ref _admitted, write.Count);
            }

            lock (state)
            {
                foreach (var (address, _) in write)
                {
                    state.Expiry[address] = until;
                }

                state.ByName.Remove(name);
                state.ByName[name] = (addresses, until);
                if (state.ByName.Count > _options.NamesPerSandbox)
                {
                    state.Prune(now, _options.NamesPerSandbox);
                }
            }
        }
    }

    /// <summary>Takes out of the sandbox's set the addresses of names it may no longer resolve (unless another allowed name still holds them).</summary>
    private void Narrow(SandboxState state)
    {
        lock (state.Write)
        {
            List<IPAddress> revoke;
            lock (state)
            {
                var effective = state.Effective = state.Sandbox.PolicyNames.With(state.Own);
                var gone = state.ByName.Keys.Where(n => effective.Decide(n) != NameDecision.Allowed).ToList();
                if (gone.Count == 0)
                {
                    return;
                }

                var candidates = new HashSet<IPAddress>();
                foreach (var n in gone)
                {
                    candidates.UnionWith(state.ByName[n].Addresses);
                    state.ByName.Remove(n);
                }

                var now = _time.GetUtcNow();
                var kept = state.ByName.Values.Where(v => v.Until > now).SelectMany(v => v.Addresses).ToHashSet();
                revoke = [.. candidates.Where(a => !kept.Contains(a))];
                foreach (var a in revoke)
                {
                    state.Expiry.Remove(a);
                }
            }

            _sets.RevokeNameAddresses(state.Sandbox.Id, revoke);
        }
    }

    private sealed class SandboxState(EgressSandbox sandbox, int burst, DateTimeOffset now)
    {
        private double _tokens = burst;
        private DateTimeOffset _refilled = now;

        public EgressSandbox Sandbox { get; set; } = sandbox;

        public EgressNames Own { get; set; } = EgressNames.None;

        public EgressNames Effective { get; set; } = sandbox.PolicyNames;

        public Lock Write { get; } = new();

        public Dictionary<IPAddress, DateTimeOffset> Expiry { get; } = [];

        /// <summary>Names answered, in insertion order (Dictionary keeps it while nothing is removed between), with their addresses.</summary>
        public Dictionary<string, (List<IPAddress> Addresses, DateTimeOffset Until)> ByName { get; } = new(StringComparer.Ordinal);

        public bool TakeToken(DateTimeOffset now, int perSecond, int depth)
        {
            lock (this)
            {
                _tokens = Math.Min(depth, _tokens + ((now - _refilled).TotalSeconds * perSecond));
                _refilled = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens--;
                return true;
            }
        }

        /// <summary>Forgets expired names and addresses, then the oldest names past <paramref name="keep"/>.</summary>
        public void Prune(DateTimeOffset now, int keep)
        {
            foreach (var name in ByName.Where(p => p.Value.Until <= now).Select(p => p.Key).ToList())
            {
                ByName.Remove(name);
            }

            foreach (var name in ByName.Keys.Take(Math.Max(0, ByName.Count - keep)).ToList())
            {
                ByName.Remove(name);
            }

            foreach (var address in Expiry.Where(p => p.Value <= now).Select(p => p.Key).ToList())
            {
                Expiry.Remove(address);
            }
        }
    }

    [LoggerMessage(EventId = 340, Level = LogLevel.Information, Message = "Sandbox {Id}: name {Name} refused ({Reason})")]
    private static partial void LogRefused(ILogger logger, string id, string name, string reason);

    [LoggerMessage(EventId = 341, Level = LogLevel.Debug, Message = "Sandbox {Id}: malformed DNS query ({Error})")]
    private static partial void LogMalformed(ILogger logger, string id, string error);

    [LoggerMessage(EventId = 342, Level = LogLevel.Warning, Message = "Sandbox {Id}: DNS tunnel under {Domain}: {Message}")]
    private static partial void LogTunnel(ILogger logger, string id, string domain, string message);

    [LoggerMessage(EventId = 343, Level = LogLevel.Error, Message = "Sandbox {Id}: the addresses of {Name} could not be put in its set, answered SERVFAIL: {Reason}")]
    private static partial void LogAdmitFailed(ILogger logger, string id, string name, string reason);

    [LoggerMessage(EventId = 344, Level = LogLevel.Warning, Message = "Egress resolver: upstream {Upstream} failed for {Name}: {Reason}")]
    private static partial void LogUpstreamFailed(ILogger logger, string upstream, string name, string reason);

    [LoggerMessage(EventId = 345, Level = LogLevel.Information, Message = "Egress resolver listening on {Listen} (udp, tcp), forwarding to {Upstream}")]
    private static partial void LogListening(ILogger logger, string listen, string upstream);

    [LoggerMessage(EventId = 1790, Level = LogLevel.Warning, Message = "A DNS query with sandbox {Id}'s address arrived on {Interface}, not on its link: forged, not answered")]
    private static partial void LogForged(ILogger logger, string id, string @interface);

    [LoggerMessage(EventId = 346, Level = LogLevel.Warning, Message = "Egress resolver: {Transport} loop stopped: {Reason}")]
    private static partial void LogLoopFailed(ILogger logger, string transport, string reason);
}
