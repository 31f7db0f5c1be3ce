using Microsoft.Data.Sqlite;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Tests.Store;

public sealed class HostStoreTierTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moat-store-" + Guid.NewGuid().ToString("N")[..8]);

    public HostStoreTierTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Store_made_before_tiers_gains_the_column_and_keeps_its_rows_as_container()
    {
        var db = Path.Combine(_dir, "store.db");
        using (var c = new SqliteConnection($"Data Source={db}"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            // The schema as it was before runtime tiers, with one sandbox in it.
            cmd.CommandText = """
                CREATE TABLE sandboxes (id TEXT PRIMARY KEY, name TEXT UNIQUE, spec TEXT NOT NULL, image_digest TEXT NOT NULL,
                    state TEXT NOT NULL, address TEXT UNIQUE, pool_image TEXT, created_at TEXT NOT NULL, started_at TEXT, exit_code INTEGER);
                INSERT INTO sandboxes VALUES ('0011223344', 'old', '{"image":"busybox"}', 'sha256:aa', 'Running', '198.18.0.2', NULL,
                    '2026-01-01T00:00:00.0000000+00:00', NULL, NULL);
                """;
            cmd.ExecuteNonQuery();
        }

        var store = new HostStore(db);
        var old = Assert.Single(store.List());
        Assert.Equal("old", old.Name);
        Assert.Equal(RuntimeTier.Container, old.Tier);
        Assert.Equal("198.18.0.2", old.Address);

        store.Insert(old with { Id = "5566778899", Name = "new", Address = "198.18.0.3", Tier = RuntimeTier.Gvisor, Spec = old.Spec with { Tier = RuntimeTier.Gvisor } });
        var reopened = new HostStore(db); // a second open must not add the column again
        Assert.Equal(RuntimeTier.Gvisor, reopened.Get("5566778899")!.Tier);
        Assert.Equal(RuntimeTier.Gvisor, reopened.Get("5566778899")!.Spec.Tier);
        Assert.Equal(RuntimeTier.Container, reopened.Get("0011223344")!.Tier);
    }

    [Fact]
    public void Pool_claims_take_only_sandboxes_of_the_asked_tier()
    {
        var store = new HostStore(Path.Combine(_dir, "store.db"));
        var t0 = DateTimeOffset.UnixEpoch;
        Sandbox Pooled(string id, RuntimeTier tier) => new()
        {
            Id = id, Spec = SandboxSpec.Default with { Tier = tier }, ImageDigest = "sha256:bb", State = SandboxState.Running,
            PoolImage = "sha256:bb", CreatedAt = t0, Tier = tier,
        };
        store.Insert(Pooled("aaaaaaaaaa", RuntimeTier.Container));
        store.Insert(Pooled("bbbbbbbbbb", RuntimeTier.Gvisor));

        Assert.Equal("bbbbbbbbbb", Assert.Single(store.ListPool("sha256:bb", RuntimeTier.Gvisor)).Id);
        Assert.Equal("aaaaaaaaaa", Assert.Single(store.ListPool("sha256:bb")).Id);
        var claimed = store.ClaimFromPool("sha256:bb", RuntimeTier.Gvisor, s => s with { PoolImage = null, Name = "g" });
        Assert.Equal("bbbbbbbbbb", claimed!.Id);
        Assert.Null(store.ClaimFromPool("sha256:bb", RuntimeTier.Gvisor, s => s with { PoolImage = null }));
        Assert.Single(store.ListPool("sha256:bb", RuntimeTier.Container));
    }
}
