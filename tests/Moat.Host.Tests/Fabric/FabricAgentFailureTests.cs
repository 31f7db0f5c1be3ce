using System.Runtime.Versioning;
using System.Text.Json;
using Moat.Host.Fabric;

namespace Moat.Host.Tests.Fabric;

/// <summary>A request the agent fails on in a way nobody planned for is still answered, with no internals in the answer.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class FabricAgentFailureTests
{
    [Fact]
    public async Task A_request_that_makes_the_agent_fail_unexpectedly_is_answered_with_an_error_and_counted()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.61.0/24");
        await using var cp = await f.ControlAsync(f.AdminJid);
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent"), "the host's presence");

        // A manifest without its spec: the reserve path dereferences it (a NullReferenceException, not a refusal).
        var e = await Assert.ThrowsAsync<FabricCallException>(() =>
            cp.CallAsync<object>(f.HostJid, "reserve", null, new { sourceId = "src", imageDigest = "sha256:0", tier = "container" }, timeout: TimeSpan.FromSeconds(15)));
        Assert.Equal("internal-server-error", e.Condition);
        Assert.Contains("internal error", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", e.Message, StringComparison.Ordinal);
        Assert.Empty(await f.Host.Client.ListAsync());

        var status = await cp.CallAsync<JsonElement>(f.HostJid, "status", null, null);
        Assert.Equal(1, status.GetProperty("failedRequests").GetInt64());
    }
}
