using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Moat.Control.Tests.Api;

/// <summary>A client sees and touches only its own sandboxes; another's is answered exactly like one that does not exist.</summary>
[Trait("Category", "Hostile")]
public sealed class SandboxIsolationHostileTests
{
    [Fact]
    public async Task Another_clients_sandbox_is_answered_byte_for_byte_like_a_missing_one_and_left_untouched()
    {
        var fabric = new FakeHostFabric().AddHost("host1@moat.test/agent");
        await using var h = await ControlHarness.StartAsync(fabric);
        var alice = await h.ClientKeyAsync("alice");
        var bob = await h.ClientKeyAsync("bob");
        using var a = h.Http(alice);
        using var b = h.Http(bob);
        var bobs = await ControlHarness.JsonAsync(await b.PostAsJsonAsync("/v1/sandboxes", new { name = "secret" }), HttpStatusCode.Created);
        var bobsId = bobs.GetProperty("sandbox").GetProperty("id").GetString()!;
        var missingId = "sb-" + new string('0', 16);

        var probes = new Func<HttpClient, string, Task<HttpResponseMessage>>[]
        {
            (c, r) => c.GetAsync($"/v1/sandboxes/{r}"),
            (c, r) => c.PostAsJsonAsync($"/v1/sandboxes/{r}/exec", new { command = new[] { "touch", "/pwned" } }),
            (c, r) => c.PostAsync($"/v1/sandboxes/{r}/stop", null),
            (c, r) => c.PostAsync($"/v1/sandboxes/{r}/quarantine", null),
            (c, r) => c.DeleteAsync($"/v1/sandboxes/{r}/quarantine"),
            (c, r) => c.DeleteAsync($"/v1/sandboxes/{r}"),
        };
        foreach (var probe in probes)
        {
            // By id and by name: Bob's, and ones that exist nowhere.
            var answers = new List<(HttpStatusCode, string, string?)>();
            foreach (var reference in new[] { bobsId, missingId, "secret", "nosuch" })
            {
                var r = await probe(a, reference);
                answers.Add((r.StatusCode, await r.Content.ReadAsStringAsync(), r.Content.Headers.ContentType?.ToString()));
            }

            Assert.Equal(HttpStatusCode.NotFound, answers[0].Item1);
            Assert.All(answers, x => Assert.Equal(answers[0], x));
        }

        // Bob's sandbox was never touched on its host, and is still his.
        Assert.DoesNotContain(fabric.Calls, c => c.Contains(bobsId, StringComparison.Ordinal) && !c.StartsWith("claim", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync($"/v1/sandboxes/{bobsId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync("/v1/sandboxes/secret")).StatusCode);
        var list = await ControlHarness.JsonAsync(await a.GetAsync("/v1/sandboxes"), HttpStatusCode.OK);
        Assert.Equal(0, list.GetArrayLength());
    }

    [Fact]
    public async Task Names_that_look_like_ids_are_refused_so_a_name_can_never_shadow_an_id()
    {
        var fabric = new FakeHostFabric().AddHost("host1@moat.test/agent");
        await using var h = await ControlHarness.StartAsync(fabric);
        var alice = await h.ClientKeyAsync("alice");
        var bob = await h.ClientKeyAsync("bob");
        using var a = h.Http(alice);
        using var b = h.Http(bob);
        var bobs = await ControlHarness.JsonAsync(await b.PostAsJsonAsync("/v1/sandboxes", new { }), HttpStatusCode.Created);
        var bobsId = bobs.GetProperty("sandbox").GetProperty("id").GetString()!;

        foreach (var name in new[] { bobsId, "sb-x", "SB-0123456789abcdef", "../" + bobsId, "a b", "a\nb", "é", new string('a', 41), string.Empty, "-a" })
        {
            var r = await a.PostAsJsonAsync("/v1/sandboxes", new { name });
            var body = await ControlHarness.JsonAsync(r, HttpStatusCode.BadRequest);
            Assert.Contains("sandbox name", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain("\n", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Nothing was placed for those.
        Assert.Single(fabric.Sandboxes);
        Assert.Equal(0, (await ControlHarness.JsonAsync(await a.GetAsync("/v1/sandboxes"), HttpStatusCode.OK)).GetArrayLength());

        // Two clients may use the same name; each sees its own.
        var mine = await ControlHarness.JsonAsync(await a.PostAsJsonAsync("/v1/sandboxes", new { name = "web" }), HttpStatusCode.Created);
        var theirs = await ControlHarness.JsonAsync(await b.PostAsJsonAsync("/v1/sandboxes", new { name = "web" }), HttpStatusCode.Created);
        Assert.Equal(mine.GetProperty("sandbox").GetProperty("id").GetString(),
            (await ControlHarness.JsonAsync(await a.GetAsync("/v1/sandboxes/web"), HttpStatusCode.OK)).GetProperty("id").GetString());
        Assert.Equal(theirs.GetProperty("sandbox").GetProperty("id").GetString(),
            (await ControlHarness.JsonAsync(await b.GetAsync("/v1/sandboxes/web"), HttpStatusCode.OK)).GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await a.PostAsJsonAsync("/v1/sandboxes", new { name = "web" })).StatusCode);

        // A client may not hand a sandbox to another client, nor lift a quarantine.
        Assert.Equal(HttpStatusCode.BadRequest, (await a.PostAsJsonAsync("/v1/sandboxes", new { client = "bob" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await a.PostAsync("/v1/sandboxes/web/quarantine", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await a.DeleteAsync("/v1/sandboxes/web/quarantine")).StatusCode);
        Assert.True((await ControlHarness.JsonAsync(await a.GetAsync("/v1/sandboxes/web"), HttpStatusCode.OK)).GetProperty("quarantined").GetBoolean());
    }

    [Fact]
    public async Task Hostile_paths_get_the_same_not_found_and_never_reach_a_host()
    {
        var fabric = new FakeHostFabric().AddHost("host1@moat.test/agent");
        await using var h = await ControlHarness.StartAsync(fabric);
        var alice = await h.ClientKeyAsync("alice");
        using var a = h.Http(alice);
        var expected = await (await a.GetAsync("/v1/sandboxes/nosuch")).Content.ReadAsStringAsync();
        // Control characters in a path: Kestrel refuses some itself before routing (400); the rest are a missing sandbox.
        foreach (var reference in new[] { "%00", "%0a%0dX-Injected:%20yes", "%1b%5b2J" })
        {
            var r = await a.GetAsync($"/v1/sandboxes/{reference}");
            var body = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest || (r.StatusCode == HttpStatusCode.NotFound && body == expected), $"{reference}: {(int)r.StatusCode} {body}");
            Assert.False(r.Headers.Contains("X-Injected"));
        }

        foreach (var reference in new[] { "..%2f..%2fetc%2fpasswd", new string('a', 4000), "sb-%25", "*", "%27%20OR%201%3D1--", "%E2%80%AE", "sb-0123456789ABCDEF", "%20" })
        {
            var r = await a.GetAsync($"/v1/sandboxes/{reference}");
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.Equal(expected, await r.Content.ReadAsStringAsync());
        }

        // A request line past Kestrel's limit is refused before any handler.
        var huge = await a.GetAsync("/v1/sandboxes/" + new string('a', 9000));
        Assert.True(huge.StatusCode is HttpStatusCode.RequestUriTooLong or HttpStatusCode.BadRequest, huge.StatusCode.ToString());
        Assert.Empty(fabric.Calls);
        Assert.Contains("no such sandbox", Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(expected)), StringComparison.Ordinal);
    }
}
