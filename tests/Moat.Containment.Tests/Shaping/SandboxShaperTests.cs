using System.Diagnostics;
using System.Net;
using Moat.Containment.Shaping;

namespace Moat.Containment.Tests.Shaping;

/// <summary>Shaping against the real kernel, in namespaces each test makes (see <see cref="ShapingWorld"/>).</summary>
[Trait("Category", "Integration")]
public sealed class SandboxShaperTests
{
    private static SandboxRates Rates(string egress = "50mbit", string? ingress = "20mbit") => new()
    {
        Egress = BitRate.Parse(egress),
        Ingress = ingress is null ? null : BitRate.Parse(ingress),
        Flows =
        [
            new FlowClass("data", IPNetwork.Parse(ShapingWorld.DataSource + "/32")),
            new FlowClass("web", IPNetwork.Parse("0.0.0.0/0")) { Protocol = FlowProtocol.Tcp, Port = 80, Rate = BitRate.Parse("2mbit") },
        ],
        Rest = BitRate.Parse("1mbit"),
    };

    [Fact]
    public async Task Apply_PutsClassesOnUplinkAndVeth_AndRulesThatSelectThem()
    {
        await using var world = ShapingWorld.Create(1);
        using var shaper = await SandboxShaper.StartAsync(world.Options());

        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());

        var up = ShapingWorld.Classes(world.Host, world.Uplink);
        Assert.Equal("10Gbit", up["10:1"].Ceil);
        Assert.Equal("10:1", up["10:2"].Parent);
        Assert.Equal("10:1", up["10:3"].Parent);
        Assert.Equal(("10:3", "50Mbit"), (up["10:10"].Parent, up["10:10"].Ceil));
        Assert.Equal(("10:10", "50Mbit"), (up["10:11"].Parent, up["10:11"].Ceil));
        Assert.Equal(("10:10", "2Mbit"), (up["10:12"].Parent, up["10:12"].Ceil));
        Assert.Equal(("10:10", "1Mbit"), (up["10:1f"].Parent, up["10:1f"].Ceil));
        var veth = ShapingWorld.Classes(world.Host, world.Veth(1));
        Assert.Equal(("20Mbit", "20Mbit"), (veth["20:1"].Rate, veth["20:1"].Ceil));
        Assert.Equal(("20:1", "20Mbit"), (veth["20:11"].Parent, veth["20:11"].Ceil));
        Assert.Equal("2Mbit", veth["20:12"].Ceil);
        Assert.Equal("1Mbit", veth["20:1f"].Ceil);

        Assert.Equal("up-1-sb1", ShapingWorld.NftMap(world.Host, "up")[world.Veth(1)]);
        Assert.Equal("dn-sb1", ShapingWorld.NftMap(world.Host, "down")[world.Veth(1)]);
        Assert.Equal(["10:11", "10:12", "10:1f"], ShapingWorld.PrioritiesSetIn(world.Host, "up-1-sb1"));
        Assert.Equal(["20:11", "20:12", "20:1f"], ShapingWorld.PrioritiesSetIn(world.Host, "dn-sb1"));
    }

    [Fact]
    public async Task ShapedTraffic_IsCountedInTheClassOfItsFlow_BothWays()
    {
        await using var world = ShapingWorld.Create(1);
        using var shaper = await SandboxShaper.StartAsync(world.Options());
        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());

        Ping(world.Sandbox(1), ShapingWorld.DataSource, 20);
        Ping(world.Sandbox(1), ShapingWorld.OtherNode, 6);

        // Echo requests leave by the uplink (sandbox egress), replies by the veth (toward the sandbox).
        await Until(() =>
        {
            var up = ShapingWorld.Classes(world.Host, world.Uplink);
            var veth = ShapingWorld.Classes(world.Host, world.Veth(1));
            return up["10:11"].Packets >= 20 && up["10:1f"].Packets >= 6 && veth["20:11"].Packets >= 20 && veth["20:1f"].Packets >= 6;
        });
        var final = ShapingWorld.Classes(world.Host, world.Uplink);
        Assert.True(final["10:11"].Packets < 26, $"the data-source class counted {final["10:11"].Packets} packets, more than were sent to it");
        Assert.Equal(0, final["10:12"].Packets);
    }

    [Fact]
    public async Task Apply_ChangingOneSandbox_LeavesAnotherSandboxsClassesAndRulesAlone()
    {
        await using var world = ShapingWorld.Create(2);
        using var shaper = await SandboxShaper.StartAsync(world.Options());
        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());
        await shaper.ApplyAsync("sb2", world.Veth(2), Rates());
        Ping(world.Sandbox(2), ShapingWorld.DataSource, 5);
        // sb2's classes are 10:20-10:2f; "10:2" alone is the host's class, whose counters move with the host's own traffic.
        static bool OfSb2(TcClass c) => c.Id.Length == 5 && c.Id.StartsWith("10:2", StringComparison.Ordinal);
        var before = ShapingWorld.Classes(world.Host, world.Uplink).Values.Where(OfSb2).ToList();
        var rulesBefore = ShapingWorld.NftTable(world.Host)!.Value.ToString();

        await shaper.ApplyAsync("sb1", world.Veth(1), Rates("30mbit") with { Flows = [new FlowClass("data", IPNetwork.Parse("198.19.0.0/24"))] });

        var up = ShapingWorld.Classes(world.Host, world.Uplink);
        Assert.Equal("30Mbit", up["10:10"].Ceil);
        Assert.False(up.ContainsKey("10:12"), "sb1's second flow class should be gone");

        // Same ids, rates and (not reset) counters: sb2's classes were not rebuilt.
        Assert.Equal(before, up.Values.Where(OfSb2).ToList());
        Assert.True(before.Single(c => c.Id == "10:21").Packets >= 5);
        var sb2Rules = ShapingWorld.NftTable(world.Host)!.Value.EnumerateArray()
            .Where(e => e.TryGetProperty("rule", out var r) && r.GetProperty("chain").GetString() is "up-2-sb2" or "dn-sb2")
            .Select(e => e.GetProperty("rule").GetProperty("handle").GetInt32())
            .ToList();
        Assert.Equal(6, sb2Rules.Count);
        Assert.All(sb2Rules, handle => Assert.Contains($"\"handle\":{handle}", rulesBefore.Replace(" ", "", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Remove_DeletesClassesRulesAndTheVethQdisc()
    {
        await using var world = ShapingWorld.Create(1);
        using var shaper = await SandboxShaper.StartAsync(world.Options());
        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());

        Assert.True(await shaper.RemoveAsync("sb1"));

        Assert.Equal(["10:1", "10:2", "10:3"], ShapingWorld.Classes(world.Host, world.Uplink).Keys.Order());
        Assert.Empty(ShapingWorld.Classes(world.Host, world.Veth(1)));
        Assert.Empty(ShapingWorld.NftMap(world.Host, "up"));
        Assert.Empty(ShapingWorld.NftMap(world.Host, "down"));
        Assert.Equal(["forward"], ShapingWorld.NftChains(world.Host));
        Assert.False(await shaper.RemoveAsync("sb1"));
    }

    [Fact]
    public async Task Reconcile_AfterRestart_RemovesOrphansAndRestoresWhatWentMissing()
    {
        await using var world = ShapingWorld.Create(2);
        using (var before = await SandboxShaper.StartAsync(world.Options()))
        {
            await before.ApplyAsync("sb1", world.Veth(1), Rates());
            await before.ApplyAsync("sb2", world.Veth(2), Rates());
        }

        // While no agent runs: sb1 loses a class and its veth qdisc; a class appears that no sandbox owns.
        ShapingWorld.MustRun("tc", "-n", world.Host, "class", "del", "dev", world.Uplink, "classid", "10:1f");
        ShapingWorld.MustRun("tc", "-n", world.Host, "qdisc", "del", "dev", world.Veth(1), "root");
        ShapingWorld.MustRun("tc", "-n", world.Host, "class", "add", "dev", world.Uplink, "parent", "10:3", "classid", "10:70", "htb", "rate", "1mbit");

        using var after = await SandboxShaper.StartAsync(world.Options());
        Assert.Equal(["sb1", "sb2"], after.SandboxIds.Order());
        var result = await after.ReconcileAsync([new ShapedSandbox("sb1", world.Veth(1), Rates())]);

        Assert.Equal(["sb2"], result.Removed);
        Assert.Equal(["sb1"], result.Applied);
        Assert.Empty(result.Failed);
        Assert.Equal(1, result.OrphanClassesDeleted);
        var up = ShapingWorld.Classes(world.Host, world.Uplink);
        Assert.Equal(["10:1", "10:10", "10:11", "10:12", "10:1f", "10:2", "10:3"], up.Keys.Order());
        Assert.Equal("1Mbit", up["10:1f"].Ceil);
        Assert.Equal("20Mbit", ShapingWorld.Classes(world.Host, world.Veth(1))["20:1"].Ceil);
        Assert.Empty(ShapingWorld.Classes(world.Host, world.Veth(2)));
        Assert.Equal(["dn-sb1", "forward", "up-1-sb1"], ShapingWorld.NftChains(world.Host).Order());
        Assert.Equal([world.Veth(1)], ShapingWorld.NftMap(world.Host, "up").Keys);
    }

    [Fact]
    public async Task Apply_BadRates_RefusedWithOneSentence_AndNothingChanges()
    {
        await using var world = ShapingWorld.Create(1);
        using var shaper = await SandboxShaper.StartAsync(world.Options());
        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());
        var before = Snapshot(world);

        var zero = await Assert.ThrowsAsync<ShapingInputException>(() => shaper.ApplyAsync("sb1", world.Veth(1), Rates() with { Egress = default }));
        Assert.Equal("The egress cap of sandbox sb1 of 0 bit/s is not valid: use 8kbit to 100gbit.", zero.Message);
        var over = await Assert.ThrowsAsync<ShapingInputException>(() => shaper.ApplyAsync("sb1", world.Veth(1), Rates("1mbit")));
        Assert.Contains("'web'", over.Message);
        var badId = await Assert.ThrowsAsync<ShapingInputException>(() => shaper.ApplyAsync("sb 1; drop", world.Veth(1), Rates()));
        Assert.Contains("'sb 1; drop'", badId.Message);
        var noVeth = await Assert.ThrowsAsync<ShapingInputException>(() => shaper.ApplyAsync("sb1", "mhnothere", Rates()));
        Assert.Contains("mhnothere", noVeth.Message);

        Assert.Equal(before, Snapshot(world));
    }

    [Fact]
    public async Task Apply_WhenTheRulesAreRefused_ThePreviousClassesStayInForce()
    {
        await using var world = ShapingWorld.Create(1);
        using var shaper = await SandboxShaper.StartAsync(world.Options());
        await shaper.ApplyAsync("sb1", world.Veth(1), Rates());
        var before = Snapshot(world);

        // Someone removes the table under the agent: the new rules cannot go in, so the new classes must not stay either.
        ShapingWorld.MustRun("ip", "netns", "exec", world.Host, "nft", "delete", "table", "inet", "moat-shaping");
        var changed = Rates("30mbit") with { Flows = [.. Rates().Flows, new FlowClass("dns", IPNetwork.Parse("0.0.0.0/0")) { Protocol = FlowProtocol.Udp, Port = 53 }] };
        var e = await Assert.ThrowsAsync<ShapingException>(() => shaper.ApplyAsync("sb1", world.Veth(1), changed));
        Assert.Contains("The kernel refused the shaping rules", e.Message);

        Assert.Equal(before.Classes, Snapshot(world).Classes);
    }

    private static (string Classes, string Rules) Snapshot(ShapingWorld world)
    {
        var classes = ShapingWorld.Classes(world.Host, world.Uplink).Values.Concat(ShapingWorld.Classes(world.Host, world.Veth(1)).Values)
            .OrderBy(c => c.Id, StringComparer.Ordinal)
            .Select(c => $"{c.Id} {c.Parent} {c.Rate} {c.Ceil}");
        var rules = ShapingWorld.NftTable(world.Host)?.ToString() ?? "";
        return (string.Join("\n", classes), rules);
    }

    private static void Ping(string ns, string address, int count) =>
        ShapingWorld.MustRun("ip", "netns", "exec", ns, "ping", "-q", "-n", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "0.02", "-w", "10", address);

    private static async Task Until(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the counters did not reach the expected values within 10 s");
            await Task.Delay(20);
        }
    }
}
