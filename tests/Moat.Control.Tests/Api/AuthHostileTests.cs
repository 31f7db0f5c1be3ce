using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Moat.Control.Tests.Api;

/// <summary>Who may do what: every /v1/ path needs a valid key, administrators' paths an administrator's, and key
/// guessing is rate limited. The service runs for real on loopback (pretend hosts behind it).</summary>
[Trait("Category", "Hostile")]
public sealed class AuthHostileTests
{
    private static readonly string[] ClientPaths = ["/v1/whoami", "/v1/sandboxes", "/v1/sandboxes/sb-0123456789abcdef"];
    private static readonly string[] AdminPaths = ["/v1/hosts", "/v1/clients", "/v1/keys", "/v1/audit"];

    [Fact]
    public async Task Everything_under_v1_answers_401_without_a_valid_key_and_the_open_paths_need_none()
    {
        await using var h = await ControlHarness.StartAsync(configure: o => o with { FailedAuthPerMinute = 1000 });
        var (_, revoked) = await RevokedKeyAsync(h);
        var headers = new (string Name, string? Value)[]
        {
            ("Authorization", null),
            ("Authorization", "Bearer "),
            ("Authorization", "Basic YWRtaW46YWRtaW4="),
            ("Authorization", "Bearer moat_000000000000_" + new string('A', 43)),
            ("Authorization", "Bearer " + h.AdminKey[..^1] + (h.AdminKey[^1] == 'A' ? 'B' : 'A')),
            ("Authorization", "bearer " + h.AdminKey),
            ("Authorization", "Bearer " + h.AdminKey.ToUpperInvariant()),
            ("Authorization", "Bearer " + new string('x', 10_000)),
            ("Authorization", "Bearer " + revoked),
            ("X-Api-Key", h.AdminKey),
        };
        foreach (var path in ClientPaths.Concat(AdminPaths))
        {
            foreach (var (name, value) in headers)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(h.BaseAddress, path));
                if (value is not null)
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }

                using var http = h.Http();
                var response = await http.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path} with {name}: {value?[..Math.Min(value.Length, 40)]} answered {(int)response.StatusCode}");
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
        }

        // Two Authorization headers, even if one is good, are refused (no picking the first or the last).
        using (var two = new HttpRequestMessage(HttpMethod.Get, new Uri(h.BaseAddress, "/v1/whoami")))
        {
            two.Headers.TryAddWithoutValidation("Authorization", ["Bearer " + h.AdminKey, "Bearer moat_000000000000_x"]);
            using var http = h.Http();
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(two)).StatusCode);
        }

        using var open = h.Http();
        Assert.Equal(HttpStatusCode.OK, (await open.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await open.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await open.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task A_client_key_gets_403_on_administrators_paths_and_changes_nothing_there()
    {
        await using var h = await ControlHarness.StartAsync();
        var alice = await h.ClientKeyAsync("alice");
        using var http = h.Http(alice);
        foreach (var path in AdminPaths)
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(path)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsJsonAsync("/v1/keys", new { client = "alice", admin = true })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsJsonAsync("/v1/clients", new { name = "eve", trust = "trusted" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PutAsJsonAsync("/v1/clients/alice", new { trust = "trusted" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.DeleteAsync("/v1/keys/000000000000")).StatusCode);

        using var admin = h.Http(h.AdminKey);
        var keys = await ControlHarness.JsonAsync(await admin.GetAsync("/v1/keys"), HttpStatusCode.OK);
        Assert.DoesNotContain(keys.EnumerateArray(), k => k.GetProperty("client").GetString() == "alice" && k.GetProperty("scope").GetString() == "admin");
        var clients = await ControlHarness.JsonAsync(await admin.GetAsync("/v1/clients"), HttpStatusCode.OK);
        Assert.DoesNotContain(clients.EnumerateArray(), c => c.GetProperty("name").GetString() == "eve");
        Assert.Equal("trusted", clients.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "alice").GetProperty("trust").GetString());

        // Whoami says the scope, and the client's key works where it should.
        var me = await ControlHarness.JsonAsync(await http.GetAsync("/v1/whoami"), HttpStatusCode.OK);
        Assert.Equal("client", me.GetProperty("scope").GetString());
        Assert.Equal("alice", me.GetProperty("client").GetString());
    }

    [Fact]
    public async Task Guessing_keys_from_one_address_is_refused_with_429_once_the_budget_is_spent_and_a_good_key_still_works()
    {
        await using var h = await ControlHarness.StartAsync(configure: o => o with { FailedAuthPerMinute = 5 });
        using var guesser = h.Http();
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 12; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(h.BaseAddress, "/v1/whoami"));
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer moat_{i:x12}_{new string('A', 43)}");
            statuses.Add((await guesser.SendAsync(request)).StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), statuses.Take(5));
        Assert.All(statuses.Skip(5), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));

        // A caller with a valid key is limited by its key, not by the guesser's address.
        using var admin = h.Http(h.AdminKey);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/whoami")).StatusCode);
    }

    [Fact]
    public async Task One_key_past_its_rate_gets_429_and_another_key_is_not_slowed()
    {
        await using var h = await ControlHarness.StartAsync(configure: o => o with { RequestsPerSecondPerKey = 5 });
        var alice = await h.ClientKeyAsync("alice");
        var bob = await h.ClientKeyAsync("bob");
        using var a = h.Http(alice);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => a.GetAsync("/v1/sandboxes")));
        Assert.Contains(statuses, r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.True(statuses.Count(r => r.StatusCode == HttpStatusCode.OK) < 30);
        using var b = h.Http(bob);
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync("/v1/sandboxes")).StatusCode);
    }

    [Fact]
    public async Task Expired_and_revoked_keys_are_refused_and_keys_are_stored_only_as_hashes()
    {
        await using var h = await ControlHarness.StartAsync();
        var (id, revoked) = await RevokedKeyAsync(h);
        using (var http = h.Http(revoked))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/whoami")).StatusCode);
        }

        var time = new ManualTime(DateTimeOffset.UtcNow);
        await using (var store = await Store.SqliteControlStore.OpenAsync(h.Options.StorePath))
        {
            var service = new ControlService(store, null, new Metrics.ControlMetrics(), time);
            var (shortLived, _) = await service.CreateKeyAsync("admin", false, TimeSpan.FromHours(1));
            Assert.Equal("ok", (await service.AuthenticateAsync(shortLived)).Reason);
            time.Now += TimeSpan.FromHours(1);
            Assert.Equal("expired", (await service.AuthenticateAsync(shortLived)).Reason);
        }

        // The store file holds no key text: neither the administrator's nor any other.
        var bytes = await File.ReadAllBytesAsync(h.Options.StorePath);
        foreach (var key in new[] { h.AdminKey, revoked })
        {
            Assert.DoesNotContain(Encoding.UTF8.GetString(bytes), key[13..], StringComparison.Ordinal);
        }

        Assert.NotEmpty(id);
    }

    private static async Task<(string Id, string Key)> RevokedKeyAsync(ControlHarness h)
    {
        using var admin = h.Http(h.AdminKey);
        var made = await ControlHarness.JsonAsync(await admin.PostAsJsonAsync("/v1/keys", new { client = "admin" }), HttpStatusCode.Created);
        var id = made.GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/keys/{id}")).StatusCode);
        return (id, made.GetProperty("key").GetString()!);
    }
}
