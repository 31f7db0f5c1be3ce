using System.Net;
using Moat.Containment.Dns;
using Moat.Containment.Names;
using Moat.Containment.Resolver;
using Moat.Containment.Tests.Dns;
using Moat.Detect.Detectors;

namespace Moat.Containment.Tests.Resolver;

/// <summary>The resolver's decisions against a scripted upstream on loopback; answers are read with the tests' own wire helpers.</summary>
public sealed class EgressResolverTests : IDisposable
{
    private static readonly IPEndPoint Tenant = new(IPAddress.Parse("198.18.100.2"), 40000);
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }
    }

    /// <summary>An upstream answer to <paramref name="query"/> (id and question echoed) with <paramref name="records"/>.</summary>
    internal static byte[] Reply(byte[] query, int answers, params byte[][] records)
    {
        var questionEnd = 12;
        while (query[questionEnd] != 0)
        {
            questionEnd += query[questionEnd] + 1;
        }

        questionEnd += 5;
        return [.. Wire.Header(Wire.Id(query), 0x8180, 1, answers), .. query[12..questionEnd], .. records.SelectMany(r => r)];
    }

    internal static byte[] NameOf(byte[] query) => query[12..(Array.IndexOf(query, (byte)0, 12) + 1)];

    private (EgressResolver Resolver, RecordingSets Sets, ScriptedUpstream Upstream, ManualTime Time) Make(
        Func<byte[], IEnumerable<byte[]>> udp, Func<byte[], byte[]>? tcp = null, string[]? allow = null, string[]? deny = null, EgressResolverOptions? options = null)
    {
        var upstream = new ScriptedUpstream(udp, tcp);
        _owned.Add(upstream);
        var sets = new RecordingSets();
        var time = new ManualTime();
        var resolver = new EgressResolver((options ?? new EgressResolverOptions { Upstream = upstream.Endpoint }) with { Upstream = upstream.Endpoint }, sets, time);
        resolver.Register(new EgressSandbox("s1", Tenant.Address, Trusted: false, EgressNames.Parse(allow ?? ["api.example.org", "*.example.net"], deny ?? [])));
        return (resolver, sets, upstream, time);
    }

    private static byte[] AnswerFor(ushort id, string name) => Wire.Query(id, name);

    [Fact]
    public async Task AllowedName_IsAnsweredAndItsAddressesAdmittedWithTheTtl()
    {
        var (resolver, sets, _, _) = Make(q => [Reply(q, 2, Wire.A(Wire.Pointer(12), 120, 198, 18, 5, 5), Wire.A(Wire.Pointer(12), 300, 198, 18, 5, 6))]);
        var answer = await resolver.AnswerAsync(Tenant, Wire.Query(0x4242, "API.example.org"), overTcp: false);
        Assert.NotNull(answer);
        Assert.Equal(0x4242, Wire.Id(answer));
        Assert.Equal(0, Wire.Rcode(answer));
        Assert.Equal(2, Wire.AnswerCount(answer));
        Assert.Equal(
            [("s1", IPAddress.Parse("198.18.5.5"), TimeSpan.FromSeconds(120)), ("s1", IPAddress.Parse("198.18.5.6"), TimeSpan.FromSeconds(120))],
            sets.Admitted.ToArray());
    }

    [Fact]
    public async Task Answer_IsNotReleasedBeforeTheKernelHoldsTheAddresses()
    {
        var (resolver, sets, _, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 5))]);
        sets.Gate.Reset();
        var answering = resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
        Assert.True(sets.Entered.Wait(TimeSpan.FromSeconds(10)));
        Assert.False(answering.IsCompleted); // the admission is held: no answer may exist yet
        sets.Gate.Set();
        Assert.Equal(0, Wire.Rcode((await answering)!));
        Assert.Single(sets.Admitted);
    }

    [Fact]
    public async Task NameNotListed_IsRefusedWithoutAskingUpstream_AndReported()
    {
        var (resolver, sets, upstream, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 5))]);
        var refusals = new List<NameRefusal>();
        resolver.Refused += refusals.Add;
        var answer = await resolver.AnswerAsync(Tenant, Wire.Query(9, "evil.org"), overTcp: false);
        Assert.Equal(5, Wire.Rcode(answer!)); // REFUSED
        Assert.Empty(upstream.Queries);
        Assert.Empty(sets.Admitted);
        var r = Assert.Single(refusals);
        Assert.Equal(("s1", "evil.org", "not-listed"), (r.SandboxId, r.Name, r.Reason));
    }

    [Fact]
    public async Task Ttl_IsBoundedBothWays()
    {
        var ttl = 1u;
        var (resolver, sets, _, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), ttl, 198, 18, 5, 5))], options: new EgressResolverOptions
        {
            Upstream = new IPEndPoint(IPAddress.Loopback, 53), MinTtl = TimeSpan.FromSeconds(30), MaxTtl = TimeSpan.FromSeconds(600),
        });
        await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
        ttl = 86400;
        await resolver.AnswerAsync(Tenant, Wire.Query(2, "a.example.net"), overTcp: false);
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(600)], sets.Admitted.Select(a => a.Timeout).ToArray());
    }

    [Fact]
    public async Task AaaaOfAnAllowedName_GetsNoDataAndOpensNothing()
    {
        var (resolver, sets, upstream, _) = Make(q => [Reply(q, 0)]);
        var answer = await resolver.AnswerAsync(Tenant, Wire.Query(3, "api.example.org", type: 28), overTcp: false);
        Assert.Equal(0, Wire.Rcode(answer!));
        Assert.Equal(0, Wire.AnswerCount(answer!));
        Assert.Empty(upstream.Queries);
        Assert.Empty(sets.Admitted);
    }

    [Fact]
    public async Task LiveDeny_TakesTheNamesAddressesOutAtOnce_AndRefusesFromTheNextQuery()
    {
        var (resolver, sets, _, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 5))]);
        await resolver.AnswerAsync(Tenant, Wire.Query(1, "a.example.net"), overTcp: false);
        await resolver.AnswerAsync(Tenant, Wire.Query(2, "b.example.net"), overTcp: false); // the same address
        resolver.SetSandboxNames("s1", EgressNames.Parse([], ["a.example.net"]));
        Assert.Empty(sets.Revoked); // b.example.net still holds 198.18.5.5
        resolver.SetSandboxNames("s1", EgressNames.Parse([], ["*.example.net"]));
        Assert.Equal([("s1", IPAddress.Parse("198.18.5.5"))], sets.Revoked.ToArray());
        Assert.Equal(5, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(3, "a.example.net"), overTcp: false))!));
    }

    [Fact]
    public async Task LiveAllow_TakesEffectOnTheNextQuery()
    {
        var (resolver, sets, _, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 7))]);
        Assert.Equal(5, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(1, "new.example.com"), overTcp: false))!));
        resolver.SetSandboxNames("s1", EgressNames.Parse(["new.example.com"], []));
        Assert.Equal(0, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(2, "new.example.com"), overTcp: false))!));
        Assert.Single(sets.Admitted);
    }

    [Fact]
    public async Task TruncatedUpstreamAnswer_IsAskedAgainOverTcp()
    {
        var (resolver, sets, upstream, _) = Make(
            q => [[.. Wire.Header(Wire.Id(q), 0x8380, 1, 0), .. q[12..]]],
            q => Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 9)));
        var answer = await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
        Assert.Equal(0, Wire.Rcode(answer!));
        Assert.Equal(1, upstream.TcpQueries);
        Assert.Equal(IPAddress.Parse("198.18.5.9"), Assert.Single(sets.Admitted).Address);
    }

    [Fact]
    public async Task UpstreamNameError_IsPassedOnAsNxdomain()
    {
        var (resolver, sets, _, _) = Make(q => [[.. Wire.Header(Wire.Id(q), 0x8183, 1, 0), .. q[12..]]]);
        Assert.Equal(3, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false))!));
        Assert.Empty(sets.Admitted);
    }

    [Fact]
    public async Task SetWriteFailure_AnswersServfailAndReleasesNoAddress()
    {
        var (resolver, sets, _, _) = Make(q => [Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 5, 5))]);
        sets.Fail = true;
        var answer = await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
        Assert.Equal(2, Wire.Rcode(answer!));
        Assert.Equal(0, Wire.AnswerCount(answer!));
    }
}

/// <summary>Hostile DNS from the tenant and from the upstream, at the resolver.</summary>
[Trait("Category", "Hostile")]
public sealed class EgressResolverHostileTests : IDisposable
{
    private static readonly IPEndPoint Tenant = new(IPAddress.Parse("198.18.100.2"), 40000);
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }
    }

    private (EgressResolver Resolver, RecordingSets Sets, ScriptedUpstream Upstream, ManualTime Time) Make(Func<byte[], IEnumerable<byte[]>> udp, EgressResolverOptions? options = null, bool trusted = false)
    {
        var upstream = new ScriptedUpstream(udp);
        _owned.Add(upstream);
        var sets = new RecordingSets();
        var time = new ManualTime();
        var resolver = new EgressResolver((options ?? new EgressResolverOptions { Upstream = upstream.Endpoint, UpstreamTimeout = TimeSpan.FromSeconds(2) }) with { Upstream = upstream.Endpoint }, sets, time);
        resolver.Register(new EgressSandbox("s1", Tenant.Address, trusted, EgressNames.Parse(["api.example.org", "*.tunnel.example"], ["bad.example.org"])));
        return (resolver, sets, upstream, time);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task AQueryForgedWithANeighboursAddress_IsNotAnsweredAndWidensNothing()
    {
        // A trusted sandbox is not held to its own source address: it sends a query with its neighbour's. The query
        // arrives on the forger's link (mh-forger), not on the neighbour's (mh-s1), and must not open the neighbour's set.
        var (resolver, sets, _, _) = Make(q => [[.. EgressResolverTests.Reply(q, 1), .. Wire.A(Wire.Pointer(12), 60, 198, 18, 9, 1)]]);
        resolver.Register(new EgressSandbox("s1", Tenant.Address, Trusted: false, EgressNames.Parse(["api.example.org"], []), HostInterface: "mh-s1"));
        resolver.Register(new EgressSandbox("forger", IPAddress.Parse("198.18.100.3"), Trusted: true, EgressNames.Parse([], []), HostInterface: "mh-forger"));

        var forged = await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false, arrivedOn: "mh-forger");

        Assert.Null(forged);
        Assert.Empty(sets.Admitted);
        Assert.Equal(1, resolver.Counters.Unknown);
        // The neighbour's own query, on its own link, is answered as before.
        var own = await resolver.AnswerAsync(Tenant, Wire.Query(2, "api.example.org"), overTcp: false, arrivedOn: "mh-s1");
        Assert.Equal(0, Wire.Rcode(own!));
        Assert.Equal(IPAddress.Parse("198.18.9.1"), Assert.Single(sets.Admitted).Address);
    }

    [Fact]
    public async Task CachePoisoning_RecordsForNamesNotAskedAreNotTakenOrPassedOn()
    {
        // The answer carries the chain api -> edge.cdn.example -> A, plus an A for the bank, an A for api owned by a
        // CNAME that is not in the chain, and a glue A in the additional section.
        var (resolver, sets, _, _) = Make(q =>
        {
            byte[] head = [.. EgressResolverTests.Reply(q, 4)];
            var cnameTarget = head.Length + 12;
            head[11] = 1; // one additional record
            return [[
                .. head,
                .. Wire.Cname(Wire.Pointer(12), 300, Wire.Name("edge.cdn.example")),
                .. Wire.A(Wire.Pointer(cnameTarget), 60, 198, 18, 9, 1),
                .. Wire.A(Wire.Name("bank.example.com"), 60, 198, 18, 66, 6),
                .. Wire.A(Wire.Name("other.cdn.example"), 60, 198, 18, 66, 7),
                .. Wire.A(Wire.Name("ns.evil.example"), 60, 198, 18, 66, 8),
            ]];
        });
        var answer = (await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false))!;
        Assert.Equal(0, Wire.Rcode(answer));
        Assert.Equal(IPAddress.Parse("198.18.9.1"), Assert.Single(sets.Admitted).Address);
        Assert.Equal(2, Wire.AnswerCount(answer)); // the CNAME and its A, nothing else
        foreach (var poison in new byte[][] { [198, 18, 66, 6], [198, 18, 66, 7], [198, 18, 66, 8] })
        {
            Assert.Equal(-1, answer.AsSpan().IndexOf(poison));
        }
    }

    [Fact]
    public async Task SpoofedAnswersWithAnotherIdOrQuestion_AreIgnored()
    {
        var (resolver, sets, _, _) = Make(q =>
        {
            var wrongId = EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 66, 1));
            wrongId[0] ^= 0xFF;
            byte[] wrongQuestion = [.. Wire.Header(Wire.Id(q), 0x8180, 1, 1), .. Wire.Question("api.example.orh"), .. Wire.A(Wire.Pointer(12), 60, 198, 18, 66, 2)];
            return [wrongId, wrongQuestion, EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 9, 9))];
        });
        await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
        Assert.Equal(IPAddress.Parse("198.18.9.9"), Assert.Single(sets.Admitted).Address);
    }

    [Fact]
    public async Task MalformedUpstreamAnswers_GiveServfailAndAdmitNothing()
    {
        var cases = new List<Func<byte[], byte[]>>
        {
            q => [.. EgressResolverTests.Reply(q, 1), .. Wire.Pointer(q.Length + 0)], // owner points at itself (a loop)
            q => EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 66, 1))[..^2], // truncated record
            q => { var r = EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 66, 1)); r[6] = 0xFF; r[7] = 0xFF; return r; }, // huge count
            q => EgressResolverTests.Reply(q, 1, Wire.A([.. Wire.Name("a\u0001b.example.org")], 60, 198, 18, 66, 1)), // control byte in a name
        };
        foreach (var reply in cases)
        {
            var (resolver, sets, _, _) = Make(q => [reply(q)], new EgressResolverOptions { Upstream = new IPEndPoint(IPAddress.Loopback, 53), UpstreamTimeout = TimeSpan.FromMilliseconds(500) });
            var answer = await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false);
            Assert.Equal(2, Wire.Rcode(answer!));
            Assert.Empty(sets.Admitted);
        }
    }

    [Fact]
    public async Task CnameToADeniedName_IsRefused()
    {
        var (resolver, sets, _, _) = Make(q =>
        {
            byte[] head = EgressResolverTests.Reply(q, 2);
            var target = head.Length + 12;
            return [[.. head, .. Wire.Cname(Wire.Pointer(12), 60, Wire.Name("bad.example.org")), .. Wire.A(Wire.Pointer(target), 60, 198, 18, 66, 1)]];
        });
        Assert.Equal(5, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(1, "api.example.org"), overTcp: false))!));
        Assert.Empty(sets.Admitted);
    }

    [Fact]
    public async Task TenantQueriesThatAreBroken_GetFormerrOrNothing_NeverAnUpstreamQuery()
    {
        var (resolver, sets, upstream, _) = Make(q => [EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 66, 1))]);
        var loop = (byte[])[.. Wire.Header(7, 0x0100, 1, 0), .. Wire.Pointer(12), 0, 1, 0, 1];
        Assert.Equal(1, Wire.Rcode((await resolver.AnswerAsync(Tenant, loop, overTcp: false))!));
        Assert.Equal(1, Wire.Rcode((await resolver.AnswerAsync(Tenant, (byte[])[.. Wire.Header(7, 0x0100, 1, 0), 63, 1, 2], overTcp: false))!));
        // A message that claims to be an answer gets nothing (no reflection), nor does a stranger's query, nor a runt.
        Assert.Null(await resolver.AnswerAsync(Tenant, (byte[])[.. Wire.Header(7, 0x8180, 1, 0), .. Wire.Question("api.example.org")], overTcp: false));
        Assert.Null(await resolver.AnswerAsync(new IPEndPoint(IPAddress.Parse("198.18.100.99"), 1), Wire.Query(1, "api.example.org"), overTcp: false));
        Assert.Null(await resolver.AnswerAsync(Tenant, new byte[5], overTcp: false));
        Assert.Empty(upstream.Queries);
        Assert.Empty(sets.Admitted);
    }

    [Fact]
    public async Task QueryFlood_IsRefusedPastTheBurst_WithoutAskingUpstream()
    {
        var (resolver, _, upstream, _) = Make(q => [EgressResolverTests.Reply(q, 0)], new EgressResolverOptions { Upstream = new IPEndPoint(IPAddress.Loopback, 53), QueriesPerSecond = 5, Burst = 10 });
        var codes = new List<int>();
        for (var i = 0; i < 30; i++)
        {
            codes.Add(Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query((ushort)i, "not-listed.org"), overTcp: false))!));
        }

        Assert.All(codes, c => Assert.Equal(5, c));
        Assert.Equal(20, resolver.Counters.RateLimited);
        Assert.Empty(upstream.Queries);
    }

    [Fact]
    public async Task TunnelPattern_RaisesOneAlertAndLimitsTheDomain()
    {
        var (resolver, _, upstream, time) = Make(q => [EgressResolverTests.Reply(q, 1, Wire.A(Wire.Pointer(12), 60, 198, 18, 9, 1))]);
        var alerts = new List<Alert>();
        resolver.TunnelCaught += alerts.Add;
        var random = new Random(7);
        var codes = new List<int>();
        for (var i = 0; i < 60; i++)
        {
            // iodine-like: a long base32 label carrying data, unique each time, under one allowed domain.
            var label = string.Concat(Enumerable.Range(0, 40).Select(_ => "abcdefghijklmnopqrstuvwxyz234567"[random.Next(32)]));
            codes.Add(Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query((ushort)i, $"{label}.t.tunnel.example"), overTcp: false))!));
            time.Advance(TimeSpan.FromMilliseconds(200));
        }

        var alert = Assert.Single(alerts);
        Assert.Equal("dns-tunnel", alert.Detector);
        Assert.Equal("s1", alert.SandboxId);
        Assert.Equal("tunnel.example", alert.Target);
        Assert.True(upstream.Queries.Count <= 24 + 5, $"{upstream.Queries.Count} queries reached upstream");
        Assert.True(codes.Skip(30).Count(c => c == 5) >= 25, "queries after the alert were not limited");

        // Ordinary names under another domain are not affected.
        Assert.Equal(0, Wire.Rcode((await resolver.AnswerAsync(Tenant, Wire.Query(999, "api.example.org"), overTcp: false))!));
    }
}
