using System.Runtime.Versioning;
using System.Text.Json;
using Moat.Host.Fabric;

namespace Moat.Host.Tests.Fabric;

/// <summary>
/// Every malformed request body (a missing field, a wrong type, an absurd number, a huge string) is the requester's
/// fault: it is answered bad-request with one sentence naming the field, never internal-server-error, and creates nothing.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class FabricMalformedBodyHostileTests
{
    private static readonly string Digest = new('a', 64);

    private static readonly (string Op, string? Ref, string Body, string Named)[] Bodies =
    [
        ("reserve", null, $$"""{"sourceId":"src","imageDigest":"{{Digest}}","tier":"container"}""", "spec"),
        ("reserve", null, """{"spec":null,"sourceId":"src","imageDigest":"x","tier":"container"}""", "spec"),
        ("reserve", null, """{"spec":{"image":"busybox"},"sourceId":"src","tier":"container"}""", "imageDigest"),
        ("reserve", null, """{"spec":{"image":"busybox"},"sourceId":"src","imageDigest":"../../etc","tier":"container"}""", "imageDigest"),
        ("reserve", null, $$"""{"spec":{"image":"busybox"},"imageDigest":"{{Digest}}","tier":"container"}""", "sourceId"),
        ("reserve", null, $$"""{"spec":{"image":"busybox"},"sourceId":"{{new string('s', 20_000)}}","imageDigest":"{{Digest}}","tier":"container"}""", "sourceId"),
        ("reserve", null, $$"""{"spec":{"image":"busybox"},"sourceId":"src","imageDigest":"{{Digest}}","tier":99}""", "tier"),
        ("reserve", null, """{"spec":"busybox","sourceId":7}""", "JSON"),
        ("exec", "nobody", """{"command":null}""", "command"),
        ("exec", "nobody", """{"command":["sh",null]}""", "command"),
        ("exec", "nobody", """{"command":["true"],"timeoutSeconds":"soon"}""", "JSON"),
        ("exec", "nobody", """{"command":["true"],"timeoutSeconds":1e300}""", "timeout"),
        ("stop", "nobody", """{"graceSeconds":-1e300}""", "grace"),
        ("alerts", null, """{"limit":1e30}""", "JSON"),
        ("import", "nobody", """{"start":true}""", "sid"),
        ("import", "nobody", $$"""{"sid":"{{new string('x', 20_000)}}"}""", "sid"),
        ("export", "nobody", """{"sid":""}""", "sid"),
        ("create", null, """{"image":"busybox","memoryBytes":"lots"}""", "JSON"),
    ];

    [Fact]
    public async Task Every_malformed_body_is_a_bad_request_naming_the_field()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.62.0/24");
        await using var cp = await f.ControlAsync(f.AdminJid);
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent"), "the host's presence");

        var wrong = new List<string>();
        foreach (var (op, reference, body, named) in Bodies)
        {
            using var json = JsonDocument.Parse(body);
            try
            {
                await cp.CallAsync<object>(f.HostJid, op, reference, json.RootElement, timeout: TimeSpan.FromSeconds(15));
                wrong.Add($"{op} {Shorten(body)}: accepted");
            }
            catch (FabricCallException e) when (e.Condition != "bad-request" || !e.Message.Contains(named, StringComparison.Ordinal)
                || e.Message.Contains("Exception", StringComparison.Ordinal) || e.Message.Length > 600)
            {
                wrong.Add($"{op} {Shorten(body)}: {e.Condition}: {Shorten(e.Message)}");
            }
            catch (FabricCallException)
            {
                // bad-request, one sentence naming the field.
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        Assert.Empty(await f.Host.Client.ListAsync());
        var status = await cp.CallAsync<JsonElement>(f.HostJid, "status", null, null);
        Assert.Equal(0, status.GetProperty("failedRequests").GetInt64());
    }

    private static string Shorten(string text) => text.Length > 120 ? text[..120] + "…" : text;
}
