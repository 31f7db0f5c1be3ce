using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Moat.Containment.Flows;
using Moat.Containment.Tests.Tunnels;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Flows;

/// <summary>
/// A sandbox namespace behind a "host" namespace with an nftables table of the test's own, and an "internet"
/// namespace with listeners; the flow log reads the host namespace's conntrack and NFLOG events.
/// </summary>
[Trait("Category", "Integration")]
public sealed class FlowLogIntegrationTests
{
    private const string Sandbox = "198.18.10.2";
    private const string Internet = "198.18.30.2";

    private static NetWorld Build()
    {
        var world = new NetWorld();
        try
        {
            world.Add("sbx");
            world.Add("host");
            world.Add("inet");
            world.Link("host", "mhsbx", "198.18.10.1", "sbx", "eth0", Sandbox, 24);
            world.Link("host", "up", "198.18.30.1", "inet", "eth0", Internet, 24);
            world.Route("sbx", "0.0.0.0/0", "198.18.10.1");
            world.Route("inet", "198.18.10.0/24", "198.18.30.1");
            world.Forwarding("host");

            // Closed and reset connections are destroyed (and reported) after 1 s instead of 10 s or 2 min.
            foreach (var key in new[] { "nf_conntrack_tcp_timeout_close", "nf_conntrack_tcp_timeout_time_wait", "nf_conntrack_tcp_timeout_fin_wait", "nf_conntrack_tcp_timeout_last_ack", "nf_conntrack_tcp_timeout_close_wait" })
            {
                Sysctl.Write(world["host"], "net.netfilter." + key, "1");
            }

            // The refusal rule is written the way the rules compiler logs refusals: NFLOG group 7, "moat <sandbox> <rule>".
            world.Tool("host", "nft", """
                table inet mcttest {
                  chain forward {
                    type filter hook forward priority filter; policy accept;
                    ct state established,related accept
                    ip saddr 198.18.10.2 tcp dport 9999 log prefix "moat sbx1 deny-9999" group 7 drop
                    ip saddr 198.18.10.2 ct state new accept
                  }
                }
                """, "-f", "-");
            return world;
        }
        catch
        {
            world.Dispose();
            throw;
        }
    }

    [Fact]
    public async Task Allowed_connection_and_refused_packet_are_recorded_and_the_cli_returns_them()
    {
        using var world = Build();
        var dir = Path.Combine(Path.GetTempPath(), "moat-flowlog-" + Guid.NewGuid().ToString("N"));
        var db = Path.Combine(dir, "flows.db");
        var owners = new FlowAttributionTable();
        owners.Set("sbx1", IPAddress.Parse(Sandbox), "alice");
        var log = new FlowLog(new FlowLogOptions { DatabasePath = db, NetworkNamespacePath = world["host"].Path, MaxBatchDelay = TimeSpan.FromMilliseconds(10) }, owners);
        using var stop = new CancellationTokenSource();
        var run = log.RunAsync(stop.Token);
        using var listener = world.Listen("inet", Internet, 8080);
        using var refusedListener = world.Listen("inet", Internet, 9999);
        try
        {
            await log.Started.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("1", Sysctl.Read(world["host"], "net.netfilter.nf_conntrack_acct"));

            // Allowed: 5,000 bytes up, 20,000 bytes down, then a reset so conntrack lets go quickly.
            int sourcePort;
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                using var client = await world.ConnectAsync("sbx", Internet, 8080, cts.Token);
                sourcePort = ((IPEndPoint)client.LocalEndPoint!).Port;
                using var server = await listener.AcceptAsync(cts.Token);
                await client.SendAsync(new byte[5000], cts.Token);
                await ReceiveExactlyAsync(server, 5000, cts.Token);
                await server.SendAsync(new byte[20000], cts.Token);
                await ReceiveExactlyAsync(client, 20000, cts.Token);
                client.LingerState = new LingerOption(true, 0);
            }

            // Refused: the SYN is dropped by the test's rule; the connect attempt is abandoned.
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => (await world.ConnectAsync("sbx", Internet, 9999, cts.Token)).Dispose());
            }

            var allowed = await WaitForAsync(db, new FlowQuery { SandboxId = "sbx1", Verdict = FlowVerdict.Allowed }, f => f.Ended is not null);
            Assert.Equal((IPAddress.Parse(Sandbox), sourcePort, IPAddress.Parse(Internet), 8080, (byte)6), (allowed.Source, allowed.SourcePort, allowed.Destination, allowed.DestinationPort, allowed.Protocol));
            Assert.Equal(("alice", FlowDirection.Out), (allowed.Client, allowed.Direction));

            // IP lengths include headers, so the counters are at least the payloads.
            Assert.True(allowed.BytesSent >= 5000 && allowed.BytesReceived >= 20000, $"sent {allowed.BytesSent}, received {allowed.BytesReceived}");

            var refused = await WaitForAsync(db, new FlowQuery { SandboxId = "sbx1", Verdict = FlowVerdict.Refused }, _ => true);
            Assert.Equal(("deny-9999", IPAddress.Parse(Internet), 9999, "alice"), (refused.Rule, refused.Destination, refused.DestinationPort, refused.Client));
            Assert.True(refused.Packets >= 1 && refused.BytesSent > 0);

            // The CLI reads the log while the writer still runs (WAL).
            var (code, stdout, stderr) = await FlowStoreTests.RunCliAsync("--db", db, "--sandbox", "sbx1", "--json");
            Assert.True(code == 0, stderr);
            var rows = JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList();
            Assert.Contains(rows, r => r.GetProperty("verdict").GetString() == "allowed" && r.GetProperty("destinationPort").GetInt32() == 8080 && r.GetProperty("sourcePort").GetInt32() == sourcePort);
            Assert.Contains(rows, r => r.GetProperty("verdict").GetString() == "refused" && r.GetProperty("rule").GetString() == "deny-9999");
            Assert.Equal(0, log.Counters.Malformed);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[65536];
        var total = 0;
        while (total < count)
        {
            var n = await socket.ReceiveAsync(buffer, cancellationToken);
            Assert.True(n > 0, "connection closed early");
            total += n;
        }
    }

    private static async Task<FlowRecord> WaitForAsync(string db, FlowQuery query, Func<FlowRecord, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (File.Exists(db))
            {
                using var store = FlowStore.OpenReadOnly(db);
                if (store.Query(query).FirstOrDefault(done) is { } found)
                {
                    return found;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"no flow matching {query} was recorded within 60 s");
            await Task.Delay(100);
        }
    }
}
