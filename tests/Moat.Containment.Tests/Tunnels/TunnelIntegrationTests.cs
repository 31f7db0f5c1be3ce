using System.Net;
using System.Text.Json;
using Moat.Containment.Tunnels;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Tunnels;

/// <summary>
/// A sandbox, its host, its client and an "internet" host, each in its own namespace:
/// sandbox --veth-- host --underlay-- client --uplink-- internet, and host --direct-- internet.
/// Which source address the internet host sees tells which path a connection took.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TunnelIntegrationTests
{
    private const string Sandbox = "198.18.10.2";
    private const string HostUnderlay = "198.18.20.1";
    private const string ClientUnderlay = "198.18.20.2";
    private const string InternetDirect = "198.18.30.2";   // the internet host's address on the host's side
    private const string ClientUplink = "198.18.40.1";     // the client's address as the internet host sees it
    private const string Service = "198.18.50.1";          // a service address behind the internet host
    private const uint Vni = 4242;

    private static NetWorld Build()
    {
        var world = new NetWorld();
        try
        {
            foreach (var node in new[] { "sbx", "host", "client", "inet" })
            {
                world.Add(node);
            }

            world.Link("host", "mhsbx", "198.18.10.1", "sbx", "eth0", Sandbox, 24);
            world.Link("host", "under", HostUnderlay, "client", "under", ClientUnderlay, 24);
            world.Link("host", "direct", "198.18.30.1", "inet", "fromhost", InternetDirect, 24);
            world.Link("client", "uplink", ClientUplink, "inet", "fromclient", "198.18.40.2", 24);
            world.LoopbackAddress("inet", Service);
            world.Route("sbx", "0.0.0.0/0", "198.18.10.1");
            world.Route("host", "198.18.50.0/24", InternetDirect);
            world.Route("client", "198.18.50.0/24", "198.18.40.2");

            // Without the tunnel the internet host answers the sandbox directly (through the host).
            world.Route("inet", "198.18.10.0/24", "198.18.30.1");
            world.Forwarding("host");
            return world;
        }
        catch
        {
            world.Dispose();
            throw;
        }
    }

    [Fact]
    public async Task Sandbox_traffic_goes_through_the_client_and_its_NAT_while_direct_addresses_and_down_restore_the_direct_path()
    {
        using var world = Build();
        var clientState = Path.Combine(Path.GetTempPath(), "moat-client-" + Guid.NewGuid().ToString("N"));
        var client = new ClientTunnel(new ClientTunnelOptions { StateDirectory = clientState, Namespace = world["client"] });
        using var host = new TunnelManager(new TunnelOptions { HostUnderlayAddress = IPAddress.Parse(HostUnderlay), Namespace = world["host"] });
        using var service = world.Listen("inet", Service, 8080);
        using var direct = world.Listen("inet", InternetDirect, 8081);
        try
        {
            Assert.Equal(IPAddress.Parse(Sandbox), await world.SourceSeenAsync("sbx", service, Service, 8080));
            var forwardingBefore = Sysctl.Read(world["client"], "net.ipv4.ip_forward");

            await host.OpenAsync("sbx1", IPAddress.Parse(Sandbox), IPAddress.Parse(ClientUnderlay), Vni, [IPNetwork.Parse(InternetDirect + "/32")]);
            await client.UpAsync(new ClientTunnelSpec(IPAddress.Parse(HostUnderlay), Vni, IPAddress.Parse(Sandbox)) { Nat = true });

            // Through the tunnel: the internet host sees the client's address, not the sandbox's.
            Assert.Equal(IPAddress.Parse(ClientUplink), await world.SourceSeenAsync("sbx", service, Service, 8080));

            // A direct destination is reached without the client: the sandbox's own address arrives.
            Assert.Equal(IPAddress.Parse(Sandbox), await world.SourceSeenAsync("sbx", direct, InternetDirect, 8081));

            // A destination made direct later (an authcert opened it) leaves the tunnel without the link being rebuilt.
            var linkBefore = world.Run("host", "ip", "-j", "link", "show", "mtsbx1");
            Assert.True(await host.AddDirectAsync("sbx1", IPNetwork.Parse(Service + "/32")));
            Assert.Equal(IPAddress.Parse(Sandbox), await world.SourceSeenAsync("sbx", service, Service, 8080));
            Assert.Equal(linkBefore, world.Run("host", "ip", "-j", "link", "show", "mtsbx1"));
            Assert.Contains(IPNetwork.Parse(Service + "/32"), host.List().Single().Direct);
            Assert.False(await host.AddDirectAsync("nosuch", IPNetwork.Parse(Service + "/32")));

            // The client's NAT counted the tunnelled connection (nft's own JSON, not Moat's records).
            var ruleset = JsonDocument.Parse(world.Run("client", "nft", "-j", "list", "table", "ip", TunnelAddressing.ClientTable(Vni)));
            var masquerade = ruleset.RootElement.GetProperty("nftables").EnumerateArray()
                .Where(e => e.TryGetProperty("rule", out var r) && r.GetProperty("chain").GetString() == "postrouting")
                .SelectMany(e => e.GetProperty("rule").GetProperty("expr").EnumerateArray())
                .Single(x => x.TryGetProperty("counter", out _));
            Assert.True(masquerade.GetProperty("counter").GetProperty("packets").GetInt64() > 0);

            var removed = await client.DownAsync();
            Assert.Single(removed);
            Assert.True(await host.CloseAsync("sbx1"));

            // Everything is gone: links, rules, table, NAT table, state, and forwarding is back to what it was.
            Assert.DoesNotContain("mc4242", world.Run("client", "ip", "-j", "link", "show"));
            Assert.DoesNotContain("moat_client", world.Run("client", "nft", "list", "tables"));
            Assert.Equal(forwardingBefore, Sysctl.Read(world["client"], "net.ipv4.ip_forward"));
            Assert.Empty(Directory.GetFiles(clientState));
            Assert.DoesNotContain("mtsbx1", world.Run("host", "ip", "-j", "link", "show"));
            Assert.DoesNotContain(Sandbox, world.Run("host", "ip", "-j", "rule", "show"));
            Assert.Equal("[]", world.Run("host", "ip", "-j", "route", "show", "table", (new TunnelOptions { HostUnderlayAddress = IPAddress.Any }.TableBase + Vni).ToString(System.Globalization.CultureInfo.InvariantCulture)).Trim());
            Assert.Equal(IPAddress.Parse(Sandbox), await world.SourceSeenAsync("sbx", service, Service, 8080));
        }
        finally
        {
            await client.DownAsync();
            Directory.Delete(clientState, recursive: true);
        }
    }

    [Fact]
    public async Task Host_side_reads_back_what_it_built_and_reconcile_removes_strays_and_repairs_drift()
    {
        using var world = Build();
        using var host = new TunnelManager(new TunnelOptions { HostUnderlayAddress = IPAddress.Parse(HostUnderlay), Namespace = world["host"] });
        var one = new TunnelSpec("one", IPAddress.Parse(Sandbox), IPAddress.Parse(ClientUnderlay), 11) { Direct = [IPNetwork.Parse("198.18.60.0/24")] };
        var two = new TunnelSpec("two", IPAddress.Parse("198.18.10.3"), IPAddress.Parse(ClientUnderlay), 12);
        await host.OpenAsync(one);
        await host.OpenAsync(two);
        await host.OpenAsync(one); // identical: nothing changes
        Assert.Equal([one, two], host.List().OrderBy(t => t.SandboxId));

        // iproute2's view: three rules from one's address (direct prefix, client, tunnel table), in the right order.
        var ofOne = JsonDocument.Parse(world.Run("host", "ip", "-j", "rule", "show")).RootElement.EnumerateArray()
            .Where(r => r.TryGetProperty("src", out var src) && src.GetString() == Sandbox)
            .Select(r => $"{r.GetProperty("priority").GetInt32()} {(r.TryGetProperty("dst", out var d) ? d.GetString() + "/" + (r.TryGetProperty("dstlen", out var l) ? l.GetInt32() : 32) : "all")} {r.GetProperty("table").GetString()}")
            .Order()
            .ToList();
        Assert.Equal(["10100 198.18.20.2/32 main", "10100 198.18.60.0/24 main", $"10101 all {0x6D00_0000 + 11}"], ofOne);

        // Drift: someone deletes one's tunnel rule; a stray rule from a dead tunnel is left behind.
        world.Run("host", "ip", "rule", "del", "priority", "10101", "from", Sandbox);
        world.Run("host", "ip", "rule", "add", "priority", "10101", "from", "198.18.10.9", "lookup", (0x6D00_0000 + 99).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal([two], host.List());

        var result = await host.ReconcileAsync([one]);
        Assert.Equal(["one"], result.Opened);
        Assert.Equal(["two"], result.Removed);

        // Orphans: the stray rule, and one's two "direct" rules left without their tunnel rule (one is rebuilt after).
        Assert.Equal(3, result.OrphanRules);
        Assert.Equal([one], host.List());
        var rules = world.Run("host", "ip", "-j", "rule", "show");
        Assert.DoesNotContain("198.18.10.9", rules);
        Assert.DoesNotContain("198.18.10.3", rules);
        Assert.DoesNotContain("mttwo", world.Run("host", "ip", "-j", "link", "show"));
    }

    [Fact]
    public async Task Bad_input_is_refused_in_one_sentence_and_leaves_nothing_behind()
    {
        using var world = Build();
        using var host = new TunnelManager(new TunnelOptions { HostUnderlayAddress = IPAddress.Parse(HostUnderlay), Namespace = world["host"] });
        var before = world.Run("host", "ip", "-j", "link", "show");
        var tooLong = await Assert.ThrowsAsync<TunnelException>(() => host.OpenAsync("a-very-long-sandbox-id", IPAddress.Parse(Sandbox), IPAddress.Parse(ClientUnderlay), 5));
        Assert.Contains("a-very-long-sandbox-id", tooLong.Message);
        var badVni = await Assert.ThrowsAsync<TunnelException>(() => host.OpenAsync("s", IPAddress.Parse(Sandbox), IPAddress.Parse(ClientUnderlay), 1u << 24));
        Assert.Contains("1 to 16777215", badVni.Message);
        await host.OpenAsync("s1", IPAddress.Parse(Sandbox), IPAddress.Parse(ClientUnderlay), 7);
        var clash = await Assert.ThrowsAsync<TunnelException>(() => host.OpenAsync("s2", IPAddress.Parse("198.18.10.4"), IPAddress.Parse(ClientUnderlay), 7 + TunnelAddressing.LinkSlots));
        Assert.Contains("s1", clash.Message);
        Assert.Single(host.List());
        Assert.True(await host.CloseAsync("s1"));
        Assert.False(await host.CloseAsync("s1"));
        Assert.Equal(before, world.Run("host", "ip", "-j", "link", "show"));
    }
}
