using System.Globalization;
using System.Net;
using Microsoft.Data.Sqlite;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Tests.Store;

/// <summary>
/// What a create, claim or destroy asks of the store stays the same however many sandboxes it holds (issue 19):
/// counted in rows the store reads and decodes, not timed.
/// </summary>
public sealed class HostStoreScaleTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moat-store-" + Guid.NewGuid().ToString("N")[..8]);

    public HostStoreScaleTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(400)]
    public void Quota_usage_address_check_sweeps_and_change_feed_read_the_same_rows_at_any_size(int loaded)
    {
        var store = new HostStore(Path.Combine(_dir, $"store-{loaded}.db"));
        for (var i = 0; i < loaded; i++)
        {
            store.Insert(Make(i, client: "alice"));
        }

        using var changes = store.Track();
        var before = store.RowsRead;
        var usage = store.ClientUsage("alice");
        var used = store.IsAddressUsed(AddressOf(loaded / 2));
        var free = store.IsAddressUsed(AddressOf(loaded + 5));
        var ids = store.ListIds(); // the console-log sweep, every second: ids only, no row decoded
        var held = store.HeldCount(); // host status and fabric presence
        store.Update(store.Get(Make(3, "alice").Id)! with { State = SandboxState.Stopped });
        before += 1; // the Get just above
        var changed = changes.Read();

        Assert.Equal((loaded, loaded * 64 * SandboxSpec.MiB), usage);
        Assert.Equal(loaded, ids.Count);
        Assert.Equal(loaded, held);
        Assert.True(used);
        Assert.False(free);
        var one = Assert.Single(changed);
        Assert.Equal(SandboxState.Stopped, one.Sandbox!.State);
        // One row decoded (the changed sandbox), whether 10 or 400 are stored.
        Assert.Equal(1, store.RowsRead - before);
    }

    [Fact]
    public void Client_usage_follows_inserts_claims_updates_and_deletes_and_survives_a_reopen()
    {
        var db = Path.Combine(_dir, "usage.db");
        var store = new HostStore(db);
        store.Insert(Make(1, "alice"));
        store.Insert(Make(2, "alice") with { Spec = SandboxSpec.Default with { Client = "alice", MemoryBytes = 128 * SandboxSpec.MiB } });
        store.Insert(Make(3, "bob"));
        store.Insert(Make(4, "local") with { PoolImage = "sha256:aa", Address = null }); // a pool sandbox is nobody's
        Assert.Equal((2, 192 * SandboxSpec.MiB), store.ClientUsage("alice"));
        Assert.Equal((0, 0L), store.ClientUsage("local"));

        var claimed = store.ClaimFromPool("sha256:aa", RuntimeTier.Container, s => s with { PoolImage = null, Spec = s.Spec with { Client = "bob" } });
        Assert.NotNull(claimed);
        Assert.Equal((2, 128 * SandboxSpec.MiB), store.ClientUsage("bob"));

        // A sandbox whose spec changes hands (e.g. an imported state) moves between clients.
        store.Update(store.Get(Make(1, "alice").Id)! with { Spec = SandboxSpec.Default with { Client = "bob", MemoryBytes = 64 * SandboxSpec.MiB } });
        Assert.Equal((1, 128 * SandboxSpec.MiB), store.ClientUsage("alice"));
        Assert.Equal((3, 192 * SandboxSpec.MiB), store.ClientUsage("bob"));

        store.Delete(Make(2, "alice").Id);
        Assert.Equal((0, 0L), store.ClientUsage("alice"));

        var reopened = new HostStore(db);
        Assert.Equal((3, 192 * SandboxSpec.MiB), reopened.ClientUsage("bob"));
        Assert.Equal((0, 0L), reopened.ClientUsage("alice"));
    }

    [Fact]
    public void A_store_made_before_usage_counting_is_counted_at_its_first_open()
    {
        var db = Path.Combine(_dir, "old.db");
        using (var c = new SqliteConnection($"Data Source={db}"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE sandboxes (id TEXT PRIMARY KEY, name TEXT UNIQUE, spec TEXT NOT NULL, image_digest TEXT NOT NULL,
                    state TEXT NOT NULL, address TEXT UNIQUE, pool_image TEXT, created_at TEXT NOT NULL, started_at TEXT, exit_code INTEGER,
                    tier TEXT NOT NULL DEFAULT 'container');
                INSERT INTO sandboxes VALUES ('0011223344', NULL, '{"image":"busybox","client":"Carol","memoryBytes":67108864}', 'sha256:aa',
                    'Running', '198.18.0.2', NULL, '2026-01-01T00:00:00.0000000+00:00', NULL, NULL, 'container');
                """;
            cmd.ExecuteNonQuery();
        }

        var store = new HostStore(db);
        Assert.Equal((1, 64 * SandboxSpec.MiB), store.ClientUsage("carol"));
        store.Delete("0011223344");
        Assert.Equal((0, 0L), store.ClientUsage("carol"));
    }

    private static Sandbox Make(int i, string client) => new()
    {
        Id = "ab" + i.ToString("x8", CultureInfo.InvariantCulture),
        Spec = SandboxSpec.Default with { Client = client, MemoryBytes = 64 * SandboxSpec.MiB },
        ImageDigest = "sha256:aa",
        State = SandboxState.Running,
        Address = AddressOf(i).ToString(),
        CreatedAt = DateTimeOffset.UnixEpoch.AddSeconds(i),
    };

    private static IPAddress AddressOf(int i) => new([198, 18, (byte)(i >> 8), (byte)(i & 0xff)]);
}
