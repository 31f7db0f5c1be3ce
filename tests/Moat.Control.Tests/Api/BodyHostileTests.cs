using System.Net;
using System.Text;
using System.Text.Json;

namespace Moat.Control.Tests.Api;

/// <summary>Every body is hostile: too large, not JSON, the wrong shape, unknown fields, deep nesting. Each is refused
/// with one sentence (a problem document), nothing is placed, and the service goes on serving.</summary>
[Trait("Category", "Hostile")]
public sealed class BodyHostileTests
{
    public static TheoryData<string, string, string, int, string> Bodies() => new()
    {
        { "POST", "/v1/sandboxes", "{", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "[]", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "\"x\"", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "{\"name\": 5}", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "{\"nmae\": \"typo\"}", 400, "unknown fields" },
        { "POST", "/v1/sandboxes", "{\"name\": \"a\", \"name\": \"b\", \"privileged\": true}", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "{\"memoryMb\": 1e309}", 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "{\"memoryMb\": -1}", 400, "memoryMb" },
        { "POST", "/v1/sandboxes", "{\"cpus\": 0}", 400, "cpus" },
        { "POST", "/v1/sandboxes", "{\"image\": \"a b\"}", 400, "image" },
        { "POST", "/v1/sandboxes", "{\"tier\": \"none\"}", 400, "tier" },
        { "POST", "/v1/sandboxes", new string('[', 10_000) + new string(']', 10_000), 400, "not valid JSON" },
        { "POST", "/v1/sandboxes", "{\"name\": \"" + new string('a', 70_000) + "\"}", 413, "larger than" },
        { "POST", "/v1/clients", "{\"name\": \"x\", \"trust\": \"root\"}", 400, "trust" },
        { "POST", "/v1/clients", "{\"name\": \"X\", \"trust\": \"trusted\"}", 400, "client name" },
        { "POST", "/v1/clients", "{}", 400, "client name" },
        { "POST", "/v1/keys", "{\"client\": \"nosuch\"}", 404, "no client" },
        { "POST", "/v1/keys", "{\"client\": \"admin\", \"expiresInDays\": -1}", 400, "expiresInDays" },
        { "POST", "/v1/keys", "{\"client\": \"admin\", \"expiresInDays\": \"NaN\"}", 400, "not valid JSON" },
        { "PUT", "/v1/clients/admin", "{\"trust\": \"god\"}", 400, "trust" },
        { "GET", "/v1/audit?limit=0", "", 400, "limit" },
        { "GET", "/v1/audit?limit=abc", "", 400, "not valid" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_hostile_body_is_refused_with_one_sentence_and_nothing_changes(string method, string path, string body, int status, string says)
    {
        var fabric = new FakeHostFabric().AddHost("host1@moat.test/agent");
        await using var h = await ControlHarness.StartAsync(fabric);
        using var http = h.Http(h.AdminKey);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method != "GET")
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString()!;
        Assert.Contains(says, detail, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', detail);
        Assert.True(detail.Length < 400, detail);
        Assert.DoesNotContain("Moat.Control", detail, StringComparison.Ordinal); // no type names or stack frames
        Assert.Empty(fabric.Sandboxes);

        // Still serving, and the store still has what it had.
        var clients = await ControlHarness.JsonAsync(await http.GetAsync("/v1/clients"), HttpStatusCode.OK);
        Assert.Equal("trusted", clients.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "admin").GetProperty("trust").GetString());
    }

    [Fact]
    public async Task A_body_sent_as_something_other_than_json_is_refused_with_415()
    {
        await using var h = await ControlHarness.StartAsync();
        using var http = h.Http(h.AdminKey);
        var r = await http.PostAsync("/v1/sandboxes", new StringContent("name=x", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
    }

    [Fact]
    public async Task Oversized_headers_are_refused_before_any_handler()
    {
        await using var h = await ControlHarness.StartAsync();
        using var http = h.Http(h.AdminKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/whoami");
        request.Headers.TryAddWithoutValidation("X-Filler", new string('a', 20_000));
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, (await http.SendAsync(request)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/whoami")).StatusCode);
    }
}
