using System.Net;
using System.Net.Http.Json;
using Microsoft.Data.Sqlite;

namespace Moat.Control.Tests.Api;

/// <summary>The audit log records every state-changing call; a restart loses nothing; secrets are 0600 in a 0700 folder
/// and in no log.</summary>
public sealed class AuditAndRestartTests
{
    [Fact]
    public async Task Every_state_changing_call_is_audited_with_who_what_when_and_outcome_and_reads_are_not()
    {
        await using var h = await ControlHarness.StartAsync();
        var alice = await h.ClientKeyAsync("alice");
        using var a = h.Http(alice);
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        var made = await ControlHarness.JsonAsync(await a.PostAsJsonAsync("/v1/sandboxes", new { name = "job1" }), HttpStatusCode.Created);
        var id = made.GetProperty("sandbox").GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/v1/sandboxes/job1")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await a.PostAsJsonAsync("/v1/sandboxes", new { name = "Bad Name" })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync("/v1/sandboxes/job1")).StatusCode);

        using var admin = h.Http(h.AdminKey);
        var audit = await ControlHarness.JsonAsync(await admin.GetAsync("/v1/audit"), HttpStatusCode.OK);
        var mine = audit.EnumerateArray().Where(e => e.GetProperty("client").GetString() == "alice").ToList();
        Assert.Equal(["POST /v1/sandboxes", "POST /v1/sandboxes", "DELETE /v1/sandboxes/{reference}"], mine.Select(e => e.GetProperty("action").GetString()));
        Assert.Equal([201, 400, 204], mine.Select(e => e.GetProperty("status").GetInt32()));
        Assert.Equal(id, mine[0].GetProperty("target").GetString());
        Assert.Equal("ok", mine[0].GetProperty("outcome").GetString());
        Assert.Contains("sandbox name", mine[1].GetProperty("outcome").GetString(), StringComparison.Ordinal);
        Assert.Equal("job1", mine[2].GetProperty("target").GetString());
        Assert.All(mine, e => Assert.True(e.GetProperty("at").GetDateTimeOffset() >= before));
        var keyId = (await ControlHarness.JsonAsync(await a.GetAsync("/v1/whoami"), HttpStatusCode.OK)).GetProperty("keyId").GetString();
        Assert.All(mine, e => Assert.Equal(keyId, e.GetProperty("keyId").GetString()));

        // Paging: after the last seq there is nothing.
        var last = audit.EnumerateArray().Last().GetProperty("seq").GetInt64();
        Assert.Equal(0, (await ControlHarness.JsonAsync(await admin.GetAsync($"/v1/audit?after={last}"), HttpStatusCode.OK)).GetArrayLength());
    }

    [Fact]
    public async Task A_restart_keeps_clients_keys_sandboxes_and_audit_and_does_not_make_a_second_admin_key()
    {
        var fabric = new FakeHostFabric().AddHost("host1@moat.test/agent");
        await using var h = await ControlHarness.StartAsync(fabric);
        var alice = await h.ClientKeyAsync("alice", "semi-trusted");
        using (var a = h.Http(alice))
        {
            await ControlHarness.JsonAsync(await a.PostAsJsonAsync("/v1/sandboxes", new { name = "kept" }), HttpStatusCode.Created);
        }

        var adminKey = h.AdminKey;
        await h.StopServiceAsync();
        await h.StartServiceAsync();
        Assert.Equal(adminKey, h.AdminKey);
        using var again = h.Http(alice);
        var kept = await ControlHarness.JsonAsync(await again.GetAsync("/v1/sandboxes/kept"), HttpStatusCode.OK);
        Assert.Equal("semi-trusted", kept.GetProperty("trust").GetString());
        using var admin = h.Http(h.AdminKey);
        Assert.Equal(2, (await ControlHarness.JsonAsync(await admin.GetAsync("/v1/keys"), HttpStatusCode.OK)).GetArrayLength());
        Assert.True((await ControlHarness.JsonAsync(await admin.GetAsync("/v1/audit"), HttpStatusCode.OK)).GetArrayLength() >= 3);
    }

    [Fact]
    public async Task The_admin_key_is_0600_in_a_0700_folder_and_no_key_appears_in_any_log()
    {
        await using var h = await ControlHarness.StartAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(h.Options.AdminKeyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(h.Options.StateDir));
        var alice = await h.ClientKeyAsync("alice");
        using (var a = h.Http(alice))
        {
            await a.PostAsJsonAsync("/v1/sandboxes", new { name = "x" });
            await a.GetAsync("/v1/clients");
        }

        // A wrong key, a key in the path and in a query, and a failure inside a handler: none of them is logged.
        using (var http = h.Http(alice[..^2] + "zz"))
        {
            await http.GetAsync("/v1/sandboxes");
        }

        using (var http = h.Http(h.AdminKey))
        {
            await http.GetAsync("/v1/sandboxes/" + alice);
            await http.GetAsync("/v1/audit?after=" + Uri.EscapeDataString(alice));
        }

        Assert.NotEmpty(h.Logs);
        foreach (var key in new[] { h.AdminKey, alice })
        {
            Assert.DoesNotContain(h.Logs, line => line.Contains(key[13..], StringComparison.Ordinal));
        }

        Assert.Contains(h.Logs, line => line.Contains(h.Options.AdminKeyPath, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_store_from_a_newer_build_is_refused_with_one_sentence_and_left_as_it_is()
    {
        var dir = Directory.CreateTempSubdirectory("moat-control-store-").FullName;
        try
        {
            var path = Path.Combine(dir, "control.db");
            await using (var store = await Store.SqliteControlStore.OpenAsync(path))
            {
                Assert.Equal(Store.ControlMigrations.Latest, await store.SchemaVersionAsync());
            }

            await using (var c = new SqliteConnection($"Data Source={path};Pooling=false"))
            {
                await c.OpenAsync();
                await using var cmd = c.CreateCommand();
                cmd.CommandText = "INSERT INTO schema_migrations VALUES (999, 'from the future', 0)";
                await cmd.ExecuteNonQueryAsync();
            }

            var e = await Assert.ThrowsAsync<ControlException>(() => Store.SqliteControlStore.OpenAsync(path));
            Assert.Contains("schema version 999", e.Message, StringComparison.Ordinal);

            // Opening twice at the current version applies nothing twice.
            File.Delete(path);
            await using (await Store.SqliteControlStore.OpenAsync(path))
            {
            }

            await using var again = await Store.SqliteControlStore.OpenAsync(path);
            Assert.Equal(Store.ControlMigrations.Latest, await again.SchemaVersionAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
