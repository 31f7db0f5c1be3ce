using System.Text.Json;
using Moat.Monitor.Cli;
using Moat.Monitor.Store;

namespace Moat.Monitor.Tests.Cli;

[CollectionDefinition("console", DisableParallelization = true)]
public sealed class ConsoleCollection;

[Collection("console")]
public sealed class MonitorCommandsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mtm-cli-").FullName;

    private string Db => Path.Combine(_dir, "m.db");

    public async Task InitializeAsync()
    {
        await using var store = await SqliteMonitorStore.OpenAsync(Db);
        await store.AppendAsync(TestRecords.Exec());
        await store.AppendAsync(TestRecords.Exec(path: "/tmp/xmrig", package: null, version: null, ecosystem: null, drift: true, sha: "ff00ff00ff00ff"));
        await store.AppendAsync(new GapRecord(TestRecords.T0, null, "fanotify", "queue overflowed"));
        Directory.CreateDirectory(Path.Combine(_dir, "osv"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "osv", "a.json"), """
            {"id":"DSA-9","affected":[{"package":{"ecosystem":"Debian","name":"curl"},
             "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.88.1-10+deb12u8"}]}]}]}
            """);
    }

    [Fact]
    public async Task Inventory_Json_ListsWhatRan()
    {
        var (code, output, _) = await RunAsync("inventory", "--db", Db, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(["/tmp/xmrig", "/usr/bin/curl"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("Path").GetString()).Order());
    }

    [Fact]
    public async Task Vulns_Json_MatchesTheOsvFolder()
    {
        var (code, output, _) = await RunAsync("vulns", "--db", Db, "--osv", Path.Combine(_dir, "osv"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var match = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("DSA-9", match.GetProperty("AdvisoryId").GetString());
        Assert.Equal("7.88.1-10+deb12u8", match.GetProperty("FixedIn").GetString());
    }

    [Fact]
    public async Task Events_Table_ShowsExecsAndGaps()
    {
        var (code, output, error) = await RunAsync("events", "--db", Db, "--sandbox", "sb-1");
        Assert.True(code == 0, error);
        Assert.Contains("/usr/bin/curl", output, StringComparison.Ordinal);
        Assert.Contains("DRIFT", output, StringComparison.Ordinal);
        Assert.Contains("GAP", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("events --db /nonexistent/mtm.db", "--db '/nonexistent/mtm.db' does not exist")]
    [InlineData("events --db DB --since yesterday", "--since 'yesterday' is not a time")]
    [InlineData("vulns --db DB --osv /nonexistent/osv", "The OSV folder '/nonexistent/osv' does not exist")]
    public async Task BadInput_ExitsNonZero_WithOneSentence(string args, string expected)
    {
        var (code, _, error) = await RunAsync(args.Replace("DB", Db, StringComparison.Ordinal).Split(' '));
        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            int code = await MonitorCommands.Create().Parse(args).InvokeAsync();
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }
}
