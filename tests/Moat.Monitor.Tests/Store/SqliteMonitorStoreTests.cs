using Moat.Monitor.Store;

namespace Moat.Monitor.Tests.Store;

public sealed class SqliteMonitorStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mtm-store-").FullName;

    [Fact]
    public async Task AppendAndQuery_RoundTripsEveryKind_FilteredBySandboxAndTime()
    {
        string db = Path.Combine(_dir, "m.db");
        var exec = TestRecords.Exec(argv: ["/usr/bin/curl", "-s", "x"]);
        var gap = new GapRecord(TestRecords.T0.AddMinutes(1), null, "fanotify", "overflow");
        var alert = new AlertRecord(TestRecords.T0.AddMinutes(2), "sb-1", "r", "warning", "d", 100, "/usr/bin/curl");
        var other = TestRecords.Exec(sandbox: "sb-2", minutes: 3);
        await using (var store = await SqliteMonitorStore.OpenAsync(db))
        {
            foreach (var e in new MonitorEvent[] { exec, gap, alert, other })
            {
                await store.AppendAsync(e);
            }
        }

        await using var reopened = await SqliteMonitorStore.OpenAsync(db);
        var sb1 = await reopened.EventsAsync(new MonitorQuery("sb-1"));
        Assert.Equal(3, sb1.Count);
        var readExec = Assert.IsType<ExecRecord>(sb1[0]);
        Assert.Equal(exec with { Argv = readExec.Argv }, readExec);
        Assert.Equal(exec.Argv, readExec.Argv);
        Assert.Equal(gap, sb1[1]);
        Assert.Equal(alert, sb1[2]);

        var later = await reopened.EventsAsync(new MonitorQuery(null, TestRecords.T0.AddMinutes(2)));
        Assert.Equal([alert, other with { Argv = ((ExecRecord)later[1]).Argv }], later);
        Assert.Single(await reopened.EventsAsync(new MonitorQuery(Limit: 1)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
