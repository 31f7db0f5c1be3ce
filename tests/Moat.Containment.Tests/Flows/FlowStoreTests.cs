using System.CommandLine;
using System.Net;
using System.Text.Json;
using Moat.Containment.Cli;
using Moat.Containment.Flows;

namespace Moat.Containment.Tests.Flows;

/// <summary>The recorder and the SQLite log without the kernel: events in, rows out, queries and the CLI over them.</summary>
public sealed class FlowStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 3, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moat-flows-" + Guid.NewGuid().ToString("N"));
    private readonly FlowAttributionTable _owners = new();

    public FlowStoreTests()
    {
        Directory.CreateDirectory(_dir);
        _owners.Set("sbx1", IPAddress.Parse("198.18.10.2"), "alice");
        _owners.Set("sbx2", IPAddress.Parse("198.18.10.3"), "bob");
    }

    private string DbPath => Path.Combine(_dir, "flows.db");

    private static KernelFlowEvent Event(KernelFlowKind kind, double seconds, uint id, string src, int sport, string dst, int dport, long orig = 0, long reply = 0, string? sandbox = null, string? rule = null) =>
        new(kind, T0.AddSeconds(seconds), id, 6, IPAddress.Parse(src), sport, IPAddress.Parse(dst), dport, orig, reply, sandbox, rule, 0);

    private FlowRecorder Record(params KernelFlowEvent[] events)
    {
        var recorder = new FlowRecorder(_owners, new FlowLogOptions { DatabasePath = DbPath });
        using var store = FlowStore.Open(DbPath);
        using var batch = store.BeginBatch();
        foreach (var e in events)
        {
            recorder.Apply(e, batch);
        }

        batch.Commit();
        return recorder;
    }

    private IReadOnlyList<FlowRecord> Query(FlowQuery query)
    {
        using var store = FlowStore.OpenReadOnly(DbPath);
        return store.Query(query);
    }

    [Fact]
    public void Open_then_close_is_one_allowed_record_with_bytes_each_way_from_the_sandbox_view()
    {
        var recorder = Record(
            Event(KernelFlowKind.Opened, 0, 1, "198.18.10.2", 40000, "198.18.50.1", 80),
            Event(KernelFlowKind.Opened, 1, 2, "198.18.50.9", 50000, "198.18.10.3", 22),  // someone reaching sbx2
            Event(KernelFlowKind.Closed, 5, 1, "198.18.10.2", 40000, "198.18.50.1", 80, orig: 300, reply: 7000),
            Event(KernelFlowKind.Closed, 6, 2, "198.18.50.9", 50000, "198.18.10.3", 22, orig: 111, reply: 2222),
            Event(KernelFlowKind.Opened, 7, 3, "198.18.99.1", 1, "198.18.99.2", 2));        // nobody's: not logged

        var flows = Query(new FlowQuery());
        Assert.Equal(2, flows.Count);
        var out1 = flows[0];
        Assert.Equal(("sbx1", "alice", FlowDirection.Out, FlowVerdict.Allowed), (out1.SandboxId, out1.Client, out1.Direction, out1.Verdict));
        Assert.Equal((T0, T0.AddSeconds(5), 300L, 7000L), (out1.Started, out1.Ended, out1.BytesSent, out1.BytesReceived));
        Assert.Equal((IPAddress.Parse("198.18.50.1"), 80, "tcp"), (out1.Destination, out1.DestinationPort, out1.ProtocolName));
        var in2 = flows[1];
        Assert.Equal(("sbx2", FlowDirection.In, 2222L, 111L), (in2.SandboxId, in2.Direction, in2.BytesSent, in2.BytesReceived));
        Assert.Equal((2L, 1L, 2L), (recorder.Inserted - 0, recorder.Unattributed, recorder.Closed));
    }

    [Fact]
    public void Refused_packets_of_one_tuple_collapse_within_the_window_and_start_anew_after_it()
    {
        Record(
            Event(KernelFlowKind.Refused, 0, 0, "198.18.10.2", 41000, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"),
            Event(KernelFlowKind.Refused, 1, 0, "198.18.10.2", 41000, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"),
            Event(KernelFlowKind.Refused, 3, 0, "198.18.10.2", 41000, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"),
            Event(KernelFlowKind.Refused, 30, 0, "198.18.10.2", 41000, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"),
            Event(KernelFlowKind.Refused, 31, 0, "198.18.10.7", 1, "198.18.50.1", 2, orig: 40, sandbox: "gone", rule: "r"));

        var refused = Query(new FlowQuery { Verdict = FlowVerdict.Refused });
        Assert.Equal(3, refused.Count);
        Assert.Equal((3L, 180L, "smtp", "alice"), (refused[0].Packets, refused[0].BytesSent, refused[0].Rule, refused[0].Client));
        Assert.Equal(1L, refused[1].Packets);

        // The prefix names the sandbox even when the agent no longer knows it; the client is then unknown.
        Assert.Equal(("gone", null), (refused[2].SandboxId, refused[2].Client));
    }

    [Fact]
    public void Queries_filter_by_sandbox_client_time_and_verdict_and_keep_the_newest()
    {
        Record(
            Event(KernelFlowKind.Opened, 0, 1, "198.18.10.2", 1, "198.18.50.1", 80),
            Event(KernelFlowKind.Opened, 10, 2, "198.18.10.3", 2, "198.18.50.1", 80),
            Event(KernelFlowKind.Opened, 20, 3, "198.18.10.2", 3, "198.18.50.1", 80),
            Event(KernelFlowKind.Refused, 30, 0, "198.18.10.2", 4, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"));

        Assert.Equal([1, 3, 4], Query(new FlowQuery { SandboxId = "sbx1" }).Select(f => f.SourcePort));
        Assert.Equal([2], Query(new FlowQuery { Client = "bob" }).Select(f => f.SourcePort));
        Assert.Equal([3, 4], Query(new FlowQuery { Since = T0.AddSeconds(15) }).Select(f => f.SourcePort));
        Assert.Equal([1, 2, 3], Query(new FlowQuery { Verdict = FlowVerdict.Allowed }).Select(f => f.SourcePort));
        Assert.Equal([3, 4], Query(new FlowQuery { Limit = 2 }).Select(f => f.SourcePort));
    }

    [Fact]
    public void Prune_drops_old_records_and_the_oldest_beyond_the_cap()
    {
        Record([.. Enumerable.Range(0, 10).Select(i => Event(KernelFlowKind.Opened, i * 60, (uint)i + 1, "198.18.10.2", i, "198.18.50.1", 80))]);
        using (var store = FlowStore.Open(DbPath))
        {
            Assert.Equal(4, store.Prune(T0.AddMinutes(4), maxRows: 100));
            Assert.Equal(2, store.Prune(T0, maxRows: 4));
            Assert.Equal(4, store.Count());
        }

        Assert.Equal([6, 7, 8, 9], Query(new FlowQuery()).Select(f => f.SourcePort));
    }

    [Fact]
    public async Task Cli_prints_json_with_filters_and_refuses_bad_input_in_one_sentence()
    {
        Record(
            Event(KernelFlowKind.Opened, 0, 1, "198.18.10.2", 40000, "198.18.50.1", 80),
            Event(KernelFlowKind.Refused, 1, 0, "198.18.10.2", 41000, "198.18.50.1", 25, orig: 60, sandbox: "sbx1", rule: "smtp"));

        var (code, stdout, _) = await RunCliAsync("--db", DbPath, "--sandbox", "sbx1", "--verdict", "refused", "--json");
        Assert.Equal(0, code);
        var flow = Assert.Single(JsonDocument.Parse(stdout).RootElement.EnumerateArray().ToList());
        Assert.Equal("refused", flow.GetProperty("verdict").GetString());
        Assert.Equal("smtp", flow.GetProperty("rule").GetString());
        Assert.Equal("alice", flow.GetProperty("client").GetString());
        Assert.Equal(25, flow.GetProperty("destinationPort").GetInt32());

        var (badCode, _, stderr) = await RunCliAsync("--db", DbPath, "--verdict", "maybe");
        Assert.Equal(2, badCode);
        Assert.Contains("'allowed' or 'refused'", stderr);
        var (sinceCode, _, sinceError) = await RunCliAsync("--db", DbPath, "--since", "yesterday-ish");
        Assert.Equal(2, sinceCode);
        Assert.Contains("--since 'yesterday-ish'", sinceError);
        var (missingCode, _, missingError) = await RunCliAsync("--db", Path.Combine(_dir, "none.db"));
        Assert.Equal(2, missingCode);
        Assert.Contains("no flow log", missingError);
    }

    [Fact]
    public void Since_accepts_ages_and_times() =>
        Assert.Equal(
            [T0.AddMinutes(-10), T0.AddHours(-2), new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero)],
            new[] { "10m", "2h", "2026-12-01T08:00Z" }.Select(s => FlowCommands.ParseSince(s, T0)));

    internal static async Task<(int Code, string Stdout, string Stderr)> RunCliAsync(params string[] args)
    {
        var root = new RootCommand();
        root.Subcommands.Add(FlowCommands.Create());
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await root.Parse(["flows", .. args]).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
