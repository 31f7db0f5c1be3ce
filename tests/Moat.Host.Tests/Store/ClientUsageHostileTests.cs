using System.Globalization;
using Microsoft.Data.Sqlite;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Tests.Store;

/// <summary>
/// A client's quota is counted from a table keyed by its name (issue 19): a client must not slip past its quota by
/// spelling its name another way, and no name may break the count for anyone.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ClientUsageHostileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moat-store-" + Guid.NewGuid().ToString("N")[..8]);

    public ClientUsageHostileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("mallory", "MALLORY", "MaLlOrY")]
    [InlineData("éve", "ÉVE", "Éve")] // beyond ASCII: SQLite's own NOCASE and lower() would count these apart
    [InlineData("straße", "STRASSE", "Straße")] // a case fold that is not one-to-one: not the same client to OrdinalIgnoreCase
    public void Names_that_differ_only_in_case_share_one_count_as_the_quota_compares_them(string a, string b, string c)
    {
        var store = new HostStore(Path.Combine(_dir, "case.db"));
        var i = 0;
        foreach (var name in new[] { a, b, c })
        {
            store.Insert(Make(i++, name));
        }

        var expected = new[] { a, b, c }.Count(n => string.Equals(n, a, StringComparison.OrdinalIgnoreCase));
        Assert.Equal(expected, store.ClientUsage(a).Sandboxes);
        Assert.Equal(expected, store.ClientUsage(a.ToUpperInvariant()).Sandboxes);
    }

    [Theory]
    [InlineData("x'); DELETE FROM client_usage; --")]
    [InlineData("$.memoryBytes")]
    [InlineData("\"quoted\" \\ back")]
    [InlineData("a@b.c/resource")]
    public void A_name_made_of_sql_or_json_syntax_is_counted_as_itself_and_leaves_others_alone(string hostile)
    {
        var store = new HostStore(Path.Combine(_dir, "syntax.db"));
        store.Insert(Make(0, "alice"));
        store.Insert(Make(1, hostile));
        store.Insert(Make(2, hostile));
        Assert.Equal((2, 128 * SandboxSpec.MiB), store.ClientUsage(hostile));
        Assert.Equal((1, 64 * SandboxSpec.MiB), store.ClientUsage("alice"));
        store.Delete(Make(1, hostile).Id);
        Assert.Equal(1, store.ClientUsage(hostile).Sandboxes);
        Assert.Equal(1, store.ClientUsage("alice").Sandboxes);
    }

    private static Sandbox Make(int i, string client) => new()
    {
        Id = "cd" + i.ToString("x8", CultureInfo.InvariantCulture),
        Spec = SandboxSpec.Default with { Client = client, MemoryBytes = 64 * SandboxSpec.MiB },
        ImageDigest = "sha256:aa",
        State = SandboxState.Running,
        Address = "198.18.7." + (i + 1).ToString(CultureInfo.InvariantCulture),
        CreatedAt = DateTimeOffset.UnixEpoch.AddSeconds(i),
    };
}
