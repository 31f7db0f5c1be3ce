using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Moat.Containment.Flows;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// An untrusted sandbox flooding the flow log: as many new connections (allowed, to its client) and refused
/// datagrams (each to a new port, so each is a new record) as it can for a few seconds. The log's queue is small here,
/// so the flood overruns it: what does not fit is counted, memory stays bounded, and a neighbour's flows made after
/// the flood are still recorded with their client.
/// </summary>
[Collection("containment-world")]
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class FlowFloodHostileTests
{
    private static readonly TimeSpan Flood = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task NewConnectionsAsFastAsPossible_LeaveTheLogBoundedAndCounted_AndANeighboursFlowsRecorded()
    {
        using var world = new ContainmentWorld();
        var mallory = world.AddSandbox("mallory");
        var sam = world.AddSandbox("sam");
        world.Rules.Reconcile([mallory.Sandbox, sam.Sandbox]);

        // Connection tracking in the host namespace, as the agent's NAT has it on a real host (it makes the NEW/DESTROY events).
        await Probe.RunAsync("ip", "netns", "exec", world.HostName, "nft", "add table inet mcttrack; add chain inet mcttrack tracked { type filter hook forward priority 10; }; add rule inet mcttrack tracked ct state new counter");

        var dir = Path.Combine(Path.GetTempPath(), "moat-flowflood-" + Guid.NewGuid().ToString("N"));
        var db = Path.Combine(dir, "flows.db");
        var owners = new FlowAttributionTable();
        owners.Set(mallory.Sandbox.Id, mallory.Sandbox.Address, "mallory");
        owners.Set(sam.Sandbox.Id, sam.Sandbox.Address, "sam");
        var log = new FlowLog(new FlowLogOptions { DatabasePath = db, NetworkNamespacePath = world.Host.Path, QueueCapacity = 512, MaxBatch = 64, MaxBatchDelay = TimeSpan.FromMilliseconds(10) }, owners);
        using var stop = new CancellationTokenSource();
        var run = log.RunAsync(stop.Token);
        try
        {
            await log.Started.WaitAsync(TimeSpan.FromSeconds(10));
            var heapBefore = GC.GetTotalMemory(forceFullCollection: true);

            var attempts = await FloodAsync(mallory.Namespace, mallory.Sandbox.Address);
            Assert.False(run.IsCompleted, "the flow log stopped under the flood");
            var heapAfter = GC.GetTotalMemory(forceFullCollection: true);

            // Memory: the queue holds at most 512 events; the managed heap does not grow with the flood.
            Assert.True(heapAfter - heapBefore < 64L << 20, $"the managed heap grew by {(heapAfter - heapBefore) >> 20} MiB during a flood of {attempts} attempts");

            // The neighbour, after the flood: one allowed connection (its data source) and one refused datagram.
            Assert.True(await Probe.TcpAsync(sam.Namespace, ContainmentWorld.DataSource, 5432));
            Assert.False(await Probe.UdpAsync(sam.Namespace, ContainmentWorld.Victim, 5000));
            var samFlows = await WaitForAsync(db, new FlowQuery { SandboxId = sam.Sandbox.Id }, rows =>
                rows.Any(r => r.Verdict == FlowVerdict.Allowed && r.DestinationPort == 5432) && rows.Any(r => r.Verdict == FlowVerdict.Refused && r.DestinationPort == 5000), log);
            Assert.All(samFlows, r => Assert.Equal("sam", r.Client));

            // Everything the flood produced is either recorded or counted as dropped; nothing is lost silently.
            var counters = log.Counters;
            using (var store = FlowStore.OpenReadOnly(db))
            {
                var stored = store.Count();
                Assert.True(stored <= counters.Recorded, $"{stored} records stored but {counters.Recorded} counted");
            }

            Assert.True(counters.Recorded > 0, "nothing of the flood was recorded");
            Assert.True(counters.Recorded + counters.QueueDrops + counters.KernelOverruns > 0);
            Assert.Equal(0, counters.Malformed);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The class of the shared queue: while mallory floods, sam (a quiet neighbour) opens ten allowed connections and sends
    /// fifty refused datagrams, each to its own port. Every one of sam's flows is recorded; mallory's flood is dropped
    /// from mallory's own share of the queue, and the drops are counted against mallory.
    /// </summary>
    [Fact]
    public async Task WhileOneSandboxFloods_AQuietNeighboursFlowsAreAllRecorded_AndTheDropsAreTheFloodersOwn()
    {
        using var world = new ContainmentWorld();
        var mallory = world.AddSandbox("mallory");
        var sam = world.AddSandbox("sam");
        world.Rules.Reconcile([mallory.Sandbox, sam.Sandbox]);
        await Probe.RunAsync("ip", "netns", "exec", world.HostName, "nft", "add table inet mcttrack; add chain inet mcttrack tracked { type filter hook forward priority 10; }; add rule inet mcttrack tracked ct state new counter");

        var dir = Path.Combine(Path.GetTempPath(), "moat-flowfair-" + Guid.NewGuid().ToString("N"));
        var db = Path.Combine(dir, "flows.db");
        var owners = new FlowAttributionTable();
        owners.Set(mallory.Sandbox.Id, mallory.Sandbox.Address, "mallory");
        owners.Set(sam.Sandbox.Id, sam.Sandbox.Address, "sam");
        var log = new FlowLog(new FlowLogOptions { DatabasePath = db, NetworkNamespacePath = world.Host.Path, QueueCapacity = 512, MaxBatch = 64, MaxBatchDelay = TimeSpan.FromMilliseconds(10) }, owners);
        using var stop = new CancellationTokenSource();
        var run = log.RunAsync(stop.Token);
        try
        {
            await log.Started.WaitAsync(TimeSpan.FromSeconds(10));
            var ports = Enumerable.Range(20_001, 50).ToList();
            var flood = FloodAsync(mallory.Namespace, mallory.Sandbox.Address);
            var connected = 0;
            using (var datagrams = NamespaceRunner.Run(sam.Namespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
            {
                foreach (var port in ports)
                {
                    datagrams.SendTo(new byte[16], new IPEndPoint(ContainmentWorld.Victim, port));
                    if (port % 5 == 0 && await Probe.TcpAsync(sam.Namespace, ContainmentWorld.DataSource, 5432))
                    {
                        connected++;
                    }

                    // Spread over the flood, so that the neighbour's events meet a full queue.
                    await Task.Delay(Flood / (ports.Count + 10));
                }
            }

            await flood;
            Assert.Equal(10, connected);
            var samFlows = await WaitForAsync(db, new FlowQuery { SandboxId = sam.Sandbox.Id, Limit = 10_000 }, rows =>
                rows.Count(r => r.Verdict == FlowVerdict.Allowed && r.DestinationPort == 5432) >= connected
                && ports.All(p => rows.Any(r => r.Verdict == FlowVerdict.Refused && r.DestinationPort == p)), log);
            Assert.All(samFlows, r => Assert.Equal("sam", r.Client));

            // What was dropped was mallory's, and counted as mallory's.
            var counters = log.Counters;
            Assert.True(counters.QueueDrops > 0, $"the flood never filled the queue, so this test proved nothing: {counters}");
            Assert.Equal(counters.QueueDrops, counters.QueueDropsBySandbox.GetValueOrDefault(mallory.Sandbox.Id));
            Assert.False(counters.QueueDropsBySandbox.ContainsKey(sam.Sandbox.Id), $"sam lost {counters.QueueDropsBySandbox.GetValueOrDefault(sam.Sandbox.Id)} events");
        }
        finally
        {
            await stop.CancelAsync();
            await run;
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Four loops of TCP connects to the client (allowed, reset at once) and one of datagrams to a refused destination, each to a new port.</summary>
    private static async Task<long> FloodAsync(NetworkNamespace ns, IPAddress own)
    {
        long attempts = 0;
        var clock = Stopwatch.StartNew();
        async Task ConnectLoop()
        {
            while (clock.Elapsed < Flood)
            {
                using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                socket.LingerState = new LingerOption(true, 0);
                using var cts = new CancellationTokenSource(Probe.Timeout);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(ContainmentWorld.Client, 80), cts.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException)
                {
                    // A connect that did not complete still made a flow.
                }

                Interlocked.Increment(ref attempts);
            }
        }

        void DatagramLoop()
        {
            using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
            socket.Bind(new IPEndPoint(own, 0));
            var port = 1;
            var payload = new byte[16];
            while (clock.Elapsed < Flood)
            {
                socket.SendTo(payload, new IPEndPoint(ContainmentWorld.Victim, port));
                port = port % 65535 + 1;
                Interlocked.Increment(ref attempts);
            }
        }

        await Task.WhenAll([.. Enumerable.Range(0, 4).Select(_ => Task.Run(ConnectLoop)), Task.Run(DatagramLoop)]);
        return attempts;
    }

    private static async Task<IReadOnlyList<FlowRecord>> WaitForAsync(string db, FlowQuery query, Func<IReadOnlyList<FlowRecord>, bool> done, FlowLog log)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using (var store = FlowStore.OpenReadOnly(db))
            {
                var rows = store.Query(query);
                if (done(rows))
                {
                    return rows;
                }
            }

            if (DateTime.UtcNow >= deadline)
            {
                using var store = FlowStore.OpenReadOnly(db);
                var seen = string.Join("; ", store.Query(query).Select(r => $"{r.Verdict} {r.Destination}:{r.DestinationPort} {r.Rule}"));
                Assert.Fail($"the neighbour's flows were not recorded within 30 s of the flood; seen: [{seen}]; {log.Counters}");
            }

            await Task.Delay(20);
        }
    }
}
