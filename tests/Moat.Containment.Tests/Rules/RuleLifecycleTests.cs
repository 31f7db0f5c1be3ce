using System.Text.Json;
using Moat.Containment.Policy;
using Moat.Containment.Rules;

namespace Moat.Containment.Tests.Rules;

/// <summary>Applying, isolating, reloading, quarantining and reconciling rules in the real kernel.</summary>
[Trait("Category", "Integration")]
[Collection("containment-world")]
public sealed class RuleLifecycleTests
{
    [Fact]
    public async Task AddingASandbox_LeavesOtherSandboxesChainsUntouched()
    {
        using var world = new ContainmentWorld();
        var a = world.AddSandbox("mallory");
        var b = world.AddSandbox("sam");
        world.Rules.Reconcile([a.Sandbox]);
        var before = RuleHandles(await world.ListTableAsync(), "sb_" + a.Sandbox.Id);

        world.Rules.Apply(b.Sandbox);

        var json = await world.ListTableAsync();
        Assert.NotEmpty(before);
        Assert.Equal(before, RuleHandles(json, "sb_" + a.Sandbox.Id));
        Assert.NotEmpty(RuleHandles(json, "sb_" + b.Sandbox.Id));
        var map = ContainmentWorld.Items(json, "map").Single(m => m.GetProperty("name").GetString() == "sandboxes");
        Assert.Equal(2, map.GetProperty("elem").GetArrayLength());

        // A change to one sandbox's rules rewrites its chain only: the other's rule handles stay.
        world.Rules.Apply(b.Sandbox with { ClientAddress = ContainmentWorld.LanHost });
        Assert.Equal(before, RuleHandles(await world.ListTableAsync(), "sb_" + a.Sandbox.Id));
    }

    [Fact]
    public async Task Throttle_DropsWhatASandboxSendsBeyondTheRate_EveryDatagramIsDroppedOrDelivered_AndEndsCleanly()
    {
        using var world = new ContainmentWorld();
        var carol = world.AddSandbox("carol"); // trusted: a throttle applies whatever the trust
        world.Rules.Reconcile([carol.Sandbox]);
        const int Datagrams = 200;

        world.Rules.Throttle(carol.Sandbox.Id, 20_000);
        Assert.Equal(20_000, world.Rules.ThrottleOf(carol.Sandbox.Id));
        // The sending socket stays open until the end: the echo server answers each datagram that got through, and a
        // closed socket would make the sandbox answer those with ICMP errors, which the throttle counts as well.
        using var socket = OpenUdp(carol.Namespace);
        var sent = SendBurst(carol.Namespace, socket, Datagrams, "t");

        // Every datagram is either counted by the throttle rule's counter (dropped) or received: wait for that sum.
        long dropped = 0;
        int received = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            dropped = ThrottleDrops(await world.ListTableAsync(), carol.Sandbox.Id) ?? -1;
            received = world.WorldServers.Received.Count(r => r.Text.StartsWith("t", StringComparison.Ordinal));
            if (dropped + received == sent || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(20);
        }

        Assert.True(sent == dropped + received, $"sent {sent}, dropped {dropped}, received {received}");
        Assert.True(dropped > Datagrams / 2, $"200 kB sent at once through a 20 kB/s throttle: only {dropped} of {sent} datagrams dropped");
        Assert.True(received > 0, "nothing got through the throttle");

        // Unthrottled: the rule is gone and a burst arrives whole; other rules of the chain were rebuilt as before.
        world.Rules.Unthrottle(carol.Sandbox.Id);
        Assert.Null(world.Rules.ThrottleOf(carol.Sandbox.Id));
        Assert.Null(ThrottleDrops(await world.ListTableAsync(), carol.Sandbox.Id));
        var again = SendBurst(carol.Namespace, socket, 20, "u");
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (world.WorldServers.Received.Count(r => r.Text.StartsWith("u", StringComparison.Ordinal)) < again)
        {
            Assert.True(DateTime.UtcNow < deadline, "an unthrottled burst did not arrive whole");
            await Task.Delay(20);
        }

        Assert.True(await Probe.TcpAsync(carol.Namespace, ContainmentWorld.Internet, 80));
        Assert.Throws<ContainmentInputException>(() => world.Rules.Throttle("nosuch", 1000));
    }

    /// <summary>The packet counter of the sandbox chain's throttle rule (nft's view: "limit rate over"), or null when
    /// the chain has none.</summary>
    private static long? ThrottleDrops(JsonDocument table, string sandboxId) =>
        ContainmentWorld.Items(table, "rule")
            .Where(r => r.GetProperty("chain").GetString() == "sb_" + sandboxId
                && r.GetProperty("expr").EnumerateArray().Any(x => x.TryGetProperty("limit", out var l) && l.TryGetProperty("inv", out var inv) && inv.GetBoolean()))
            .Select(r => (long?)r.GetProperty("expr").EnumerateArray().Single(x => x.TryGetProperty("counter", out _)).GetProperty("counter").GetProperty("packets").GetInt64())
            .SingleOrDefault();

    private static System.Net.Sockets.Socket OpenUdp(Moat.Linux.Namespaces.NetworkNamespace ns) =>
        Moat.Linux.Namespaces.NamespaceRunner.Run(ns, () => new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp));

    /// <summary>Sends 1,000-byte UDP datagrams to the internet host's echo port from the sandbox, as fast as it can.</summary>
    private static int SendBurst(Moat.Linux.Namespaces.NetworkNamespace ns, System.Net.Sockets.Socket socket, int count, string tag) =>
        Moat.Linux.Namespaces.NamespaceRunner.Run(ns, () =>
        {
            var payload = new byte[1000];
            payload.AsSpan().Fill((byte)'x');
            payload[0] = (byte)tag[0];
            var to = new System.Net.IPEndPoint(ContainmentWorld.Internet, 5000);
            for (int i = 0; i < count; i++)
            {
                socket.SendTo(payload, to);
            }

            return count;
        });

    [Fact]
    public async Task MalformedPolicy_IsRefusedWithFileLineField_AndRulesInForceStayExactlyAsTheyWere()
    {
        using var world = new ContainmentWorld();
        var semi = world.AddSandbox("sam");
        world.Rules.Reconcile([semi.Sandbox]);
        var file = Path.Combine(Path.GetTempPath(), $"moat-policy-{world.Tag}.yaml");
        try
        {
            await File.WriteAllTextAsync(file, ContainmentWorld.Policy);
            using var store = new PolicyStore(file, world.Rules);
            store.Reload();
            var before = (await world.ListTableAsync()).RootElement.GetRawText();
            Assert.True(await Probe.TcpAsync(semi.Namespace, ContainmentWorld.Internet, 80));

            await File.WriteAllTextAsync(file, ContainmentWorld.Policy.Replace("ports: [80, 443]", "ports: [80, http]", StringComparison.Ordinal));
            var error = Assert.Throws<PolicyException>(() => store.Reload());

            Assert.Equal($"{file} line 17, field 'allow[2].ports': 'http' is not a port; use a number from 1 to 65535 or a range such as 8000-8100.", error.Message);
            Assert.Equal(before, (await world.ListTableAsync()).RootElement.GetRawText());
            Assert.Equal(file, world.Rules.Policy.Source);
            Assert.True(await Probe.TcpAsync(semi.Namespace, ContainmentWorld.Internet, 80));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task PolicyFileChange_IsAppliedLiveToRunningSandboxes()
    {
        using var world = new ContainmentWorld();
        var semi = world.AddSandbox("sam");
        var untrusted = world.AddSandbox("mallory");
        world.Rules.Reconcile([semi.Sandbox, untrusted.Sandbox]);
        var dir = Directory.CreateTempSubdirectory("moat-policy-");
        var file = Path.Combine(dir.FullName, "policy.yaml");
        try
        {
            await File.WriteAllTextAsync(file, ContainmentWorld.Policy);
            using var store = new PolicyStore(file, world.Rules);
            store.Reload();
            store.Watch();
            Assert.False(await Probe.TcpAsync(semi.Namespace, ContainmentWorld.Victim, 80));

            // The victim's web port opened for semi-trusted, and mallory promoted to semi-trusted.
            await File.WriteAllTextAsync(file, ContainmentWorld.Policy
                .Replace("sam: semi-trusted", "sam: semi-trusted\n  mallory: semi-trusted", StringComparison.Ordinal)
                .Replace("prefixes: [198.19.50.0/24]", "prefixes: [198.19.50.0/24, 198.19.60.10]", StringComparison.Ordinal));

            await Until(() => Probe.TcpAsync(semi.Namespace, ContainmentWorld.Victim, 80), "the semi-trusted sandbox never reached the newly allowed destination");
            Assert.True(await Probe.TcpAsync(untrusted.Namespace, ContainmentWorld.Internet, 80));

            // A broken edit is refused and the last good policy stays in force.
            await File.WriteAllTextAsync(file, "allow: [\n");
            Assert.Throws<PolicyException>(() => store.Reload());
            Assert.True(await Probe.TcpAsync(semi.Namespace, ContainmentWorld.Victim, 80));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Quarantine_CutsTheSandboxOffAtOnce_ReleaseRestoresItsRules()
    {
        using var world = new ContainmentWorld();
        var trusted = world.AddSandbox("carol");
        var other = world.AddSandbox("carol");
        world.Rules.Reconcile([trusted.Sandbox, other.Sandbox]);
        Assert.True(await Probe.TcpAsync(trusted.Namespace, ContainmentWorld.Internet, 80));

        world.Rules.Quarantine(trusted.Sandbox.Id);

        Assert.True(world.Rules.IsQuarantined(trusted.Sandbox.Id));
        Assert.False(await Probe.TcpAsync(trusted.Namespace, ContainmentWorld.Internet, 80));
        Assert.False(await Probe.UdpAsync(trusted.Namespace, ContainmentWorld.Client, 53));
        Assert.False(await Probe.IcmpAsync(trusted.NamespaceName, ContainmentWorld.HostUplink));
        Assert.True(await Probe.TcpAsync(other.Namespace, ContainmentWorld.Internet, 80));

        world.Rules.Release(trusted.Sandbox.Id);
        Assert.True(await Probe.TcpAsync(trusted.Namespace, ContainmentWorld.Internet, 80));
    }

    [Fact]
    public async Task ReconcileAfterRestart_ReappliesLiveSandboxes_RemovesOrphans_KeepsOpenings()
    {
        using var world = new ContainmentWorld();
        var kept = world.AddSandbox("mallory");
        var gone = world.AddSandbox("mallory");
        world.Rules.Reconcile([kept.Sandbox, gone.Sandbox]);
        world.Rules.OpenDestination(kept.Sandbox.Id, ContainmentWorld.Internet, null, DateTimeOffset.UtcNow.AddHours(1));

        // A new agent process: fresh state, same kernel tables; only "kept" is still in the store.
        using var restarted = ContainmentRules.Open(world.Options, world.PolicyValue, world.Host);
        restarted.Reconcile([kept.Sandbox]);

        var chains = ContainmentWorld.Items(await world.ListTableAsync(), "chain").Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Contains("sb_" + kept.Sandbox.Id, chains);
        Assert.DoesNotContain("sb_" + gone.Sandbox.Id, chains);
        Assert.True(await Probe.TcpAsync(kept.Namespace, ContainmentWorld.Internet, 80));

        // The orphan's veth is no longer in the map, so nothing filters it: the agent destroys its plumbing next.
        var map = ContainmentWorld.Items(await world.ListTableAsync(), "map").Single(m => m.GetProperty("name").GetString() == "sandboxes");
        Assert.Equal(1, map.GetProperty("elem").GetArrayLength());
    }

    [Fact]
    public async Task Remove_DeletesChainSetsAndMapElement_AndIsIdempotent()
    {
        using var world = new ContainmentWorld();
        var a = world.AddSandbox("mallory");
        world.Rules.Reconcile([a.Sandbox]);

        world.Rules.Remove(a.Sandbox.Id);
        world.Rules.Remove(a.Sandbox.Id);

        var json = await world.ListTableAsync();
        Assert.DoesNotContain(ContainmentWorld.Items(json, "chain"), c => c.GetProperty("name").GetString()!.EndsWith(a.Sandbox.Id, StringComparison.Ordinal));
        Assert.DoesNotContain(ContainmentWorld.Items(json, "set"), c => c.GetProperty("name").GetString()!.EndsWith(a.Sandbox.Id, StringComparison.Ordinal));
    }

    private static List<long> RuleHandles(JsonDocument json, string chain) =>
        [.. ContainmentWorld.Items(json, "rule").Where(r => r.GetProperty("chain").GetString() == chain).Select(r => r.GetProperty("handle").GetInt64())];

    private static async Task Until(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
        }
    }
}
