using System.Net;
using System.Net.Sockets;
using Moat.Containment.Policy;
using Moat.Containment.Resolver;
using Moat.Containment.Rules;
using Moat.Containment.Tests.Rules;
using Moat.Containment.Trust;
using Moat.Detect.Detectors;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Tests.Resolver;

/// <summary>
/// Egress by name end to end in the containment world: a real dnsmasq upstream in the world namespace, the egress
/// resolver in the host namespace on the sandboxes' gateway address, the rules in the kernel, and sandboxes asking
/// with dig and connecting with real sockets. Every address is in 198.18.0.0/15.
/// </summary>
[Collection("containment-world")]
[Trait("Category", "Integration")]
public sealed class EgressByNameIntegrationTests : IAsyncLifetime
{
    private const string PolicyYaml = """
        default-trust: untrusted
        clients: { sam: semi-trusted }
        client-addresses: { mallory: [198.18.1.10], sam: [198.18.1.10] }
        allow:
          - name: anydns                  # sam may reach the world's DNS server on every port...
            prefixes: [198.18.2.53]
        names:
          untrusted: { allow: [web.moat.test, short.moat.test, "*.tunnel.moat.test"] }
          semi-trusted: { allow: [web.moat.test] }
        """;

    private static readonly IPEndPoint Upstream = new(IPAddress.Parse("198.18.2.54"), 5353);
    private static readonly IPEndPoint Resolver = new(ContainmentWorld.Gateway, 53);
    private static readonly IPAddress Web = ContainmentWorld.Internet; // 198.19.50.10, TCP 80 served
    private static readonly IPAddress Short = ContainmentWorld.Victim; // 198.19.60.10
    private static readonly IPAddress Forbidden = ContainmentWorld.DataSource; // 198.18.2.10

    private ContainmentWorld _world = null!;
    private DnsmasqServer _dns = null!;
    private EgressResolver _resolver = null!;
    private ProbeServers _dnsPorts = null!;

    public async Task InitializeAsync()
    {
        _world = new ContainmentWorld(PolicyYaml, o => o with { Resolver = ContainmentWorld.Gateway }, hostUdpPorts: [5000]);
        try
        {
            _world.Rules.Reconcile([]);
            using (var world = RtNetlink.OpenIn(_world.World))
            {
                world.Execute(new NetlinkBatch().AddAddress(world.GetLinkIndex("lo")!.Value, Upstream.Address, 32));
            }

            // TCP 53 and 853 on the world's DNS address, beside the UDP 53 echo it already has: "another resolver".
            _dnsPorts = ProbeServers.Start(_world.World, [53, 853], []);
            _dns = await DnsmasqServer.StartAsync(
                _world.WorldName,
                Upstream,
                [("web.moat.test", Web, 300), ("short.moat.test", Short, 2), ("forbidden.moat.test", Forbidden, 300)],
                [("tunnel.moat.test", Web)]);
            _resolver = new EgressResolver(
                new EgressResolverOptions
                {
                    Listen = Resolver, Upstream = Upstream, MinTtl = TimeSpan.FromSeconds(1),
                    Tunnel = DnsTunnelOptions.Default with { DistinctNames = 10, LimitedQueries = 2 },
                },
                _world.Rules,
                ns: _world.Host);
            _resolver.Start();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_resolver is not null)
        {
            await _resolver.DisposeAsync();
        }

        _dns?.Dispose();
        _dnsPorts?.Dispose();
        _world?.Dispose();
    }

    private (SandboxNetwork Sandbox, NetworkNamespace Namespace, string NamespaceName) Sandbox(string client)
    {
        var s = _world.AddSandbox(client);
        _world.Rules.Apply(s.Sandbox);
        var trust = RuleCompiler.EffectiveTrust(_world.PolicyValue, s.Sandbox);
        _resolver.Register(new EgressSandbox(s.Sandbox.Id, s.Sandbox.Address, trust == TrustLevel.Trusted, _world.PolicyValue.NamesFor(s.Sandbox.Client, trust)));
        return s;
    }

    [Fact]
    public async Task AllowedNameBecomesReachable_OnlyOnceResolved_AndOtherNamesAreRefused()
    {
        var s = Sandbox("mallory");
        var refusals = new List<NameRefusal>();
        _resolver.Refused += refusals.Add;

        Assert.False(await Probe.TcpAsync(s.Namespace, Web, 80)); // not resolved yet: default drop
        var (_, web) = await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test");
        Assert.Equal("NOERROR", Dig.Status(web));
        Assert.Equal([Web], Dig.Addresses(web));
        Assert.True(await Probe.TcpAsync(s.Namespace, Web, 80));

        var (_, forbidden) = await Dig.RunAsync(s.NamespaceName, Resolver, "forbidden.moat.test");
        Assert.Equal("REFUSED", Dig.Status(forbidden));
        Assert.False(await Probe.TcpAsync(s.Namespace, Forbidden, 5432));
        Assert.Contains(refusals, r => r.Name == "forbidden.moat.test" && r.SandboxId == s.Sandbox.Id && r.Reason == "not-listed");

        // Over TCP too (dig +tcp), and an unrelated sandbox gained nothing.
        Assert.Equal("NOERROR", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test", "+tcp")).Output));
        var other = Sandbox("mallory");
        Assert.False(await Probe.TcpAsync(other.Namespace, Web, 80));
    }

    [Fact]
    public async Task LiveChange_TakesEffectAtOnce()
    {
        var s = Sandbox("mallory");
        await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test");
        Assert.True(await Probe.TcpAsync(s.Namespace, Web, 80));

        _resolver.SetSandboxNames(s.Sandbox.Id, Moat.Containment.Names.EgressNames.Parse(["forbidden.moat.test"], ["web.moat.test"]));
        Assert.False(await Probe.TcpAsync(s.Namespace, Web, 80)); // its address left the set before SetSandboxNames returned
        Assert.Equal("REFUSED", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test")).Output));

        Assert.Equal("NOERROR", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "forbidden.moat.test")).Output));
        Assert.True(await Probe.TcpAsync(s.Namespace, Forbidden, 5432));
    }

    [Fact]
    public async Task TtlExpiry_ClosesThePath()
    {
        var s = Sandbox("mallory");
        var (_, output) = await Dig.RunAsync(s.NamespaceName, Resolver, "short.moat.test");
        Assert.Contains("\t2\tIN\tA\t", output, StringComparison.Ordinal); // the sandbox is told the TTL its rule lives
        Assert.True(await Probe.TcpAsync(s.Namespace, Short, 80));

        // The kernel removes the element when its 2 s timeout ends; poll (bounded) until it has.
        var started = DateTime.UtcNow;
        while (await Probe.TcpAsync(s.Namespace, Short, 80))
        {
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "the path stayed open long past the TTL");
        }
    }

    [Fact]
    public async Task OtherResolvers_AreRefusedOnUdpAndTcp53AndOn853_EvenWhenThePolicyOpensTheirAddress()
    {
        var s = Sandbox("sam");
        var dnsServer = ContainmentWorld.Dns;
        Assert.True(await Probe.TcpAsync(s.Namespace, dnsServer, 80)); // the policy's rule works...
        Assert.False(await Probe.UdpAsync(s.Namespace, dnsServer, 53)); // ...but not for DNS
        Assert.False(await Probe.TcpAsync(s.Namespace, dnsServer, 53));
        Assert.False(await Probe.TcpAsync(s.Namespace, dnsServer, 853));
        Assert.Equal("timeout", Dig.Status((await Dig.RunAsync(s.NamespaceName, new IPEndPoint(dnsServer, 53), "web.moat.test")).Output));
        Assert.Equal("NOERROR", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test")).Output));

        var untrusted = Sandbox("mallory");
        Assert.False(await Probe.UdpAsync(untrusted.Namespace, dnsServer, 53));
        Assert.Equal("timeout", Dig.Status((await Dig.RunAsync(untrusted.NamespaceName, Upstream, "web.moat.test")).Output));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task TunnellingPattern_IsCaughtAndRateLimited()
    {
        var s = Sandbox("mallory");
        var alerts = new List<Alert>();
        _resolver.TunnelCaught += alerts.Add;
        var statuses = new List<string>();
        var random = new Random(14);
        for (var i = 0; i < 20; i++)
        {
            var label = string.Concat(Enumerable.Range(0, 48).Select(_ => "abcdefghijklmnopqrstuvwxyz234567"[random.Next(32)]));
            statuses.Add(Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, $"{label}.x.tunnel.moat.test")).Output));
        }

        var alert = Assert.Single(alerts);
        Assert.Equal((DnsTunnelGuard.Kind, s.Sandbox.Id, "moat.test"), (alert.Detector, alert.SandboxId, alert.Target));
        Assert.All(statuses.Take(10), st => Assert.Equal("NOERROR", st));
        Assert.True(statuses.Skip(12).All(st => st == "REFUSED"), string.Join(",", statuses));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task HostileDatagramsFromTheTenant_LeaveTheResolverServing()
    {
        var s = Sandbox("mallory");
        using var socket = NamespaceRunner.Run(s.Namespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        var random = new Random(53);
        var malformedBefore = _resolver.Counters.Malformed;
        byte[] loop = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        byte[] answerNotQuery = [0, 2, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0, 0, 1, 0, 1];
        await socket.SendToAsync(loop, Resolver);
        await socket.SendToAsync(answerNotQuery, Resolver);
        for (var i = 0; i < 50; i++)
        {
            var junk = new byte[random.Next(1, 1400)];
            random.NextBytes(junk);
            junk[2] &= 0x7F; // a "query", so it reaches the parser rather than the no-reflection rule
            await socket.SendToAsync(junk, Resolver);
        }

        // Over TCP: a length prefix that promises more than is ever sent, then the connection is left open.
        using var tcp = NamespaceRunner.Run(s.Namespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        await tcp.ConnectAsync(Resolver);
        await tcp.SendAsync(new byte[] { 0xFF, 0xFF, 1, 2, 3 });

        Assert.Equal("NOERROR", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test")).Output));
        Assert.Equal("NOERROR", Dig.Status((await Dig.RunAsync(s.NamespaceName, Resolver, "web.moat.test", "+tcp")).Output));
        Assert.True(_resolver.Counters.Malformed > malformedBefore);
    }
}
