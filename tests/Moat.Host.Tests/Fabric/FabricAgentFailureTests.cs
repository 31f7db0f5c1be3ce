using System.Runtime.Versioning;
using System.Text.Json;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

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
        // A clock that fails when asked, armed once the agent is up: the claim path reads it before it claims anything,
        // so the agent fails in a way no request validation foresees (malformed bodies are bad requests:
        // FabricMalformedBodyHostileTests).
        var clock = new FailingClock();
        await using var f = await FabricHarness.StartAsync(pool: "198.19.61.0/24", time: clock);
        await using var cp = await f.ControlAsync(f.AdminJid);
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent"), "the host's presence");

        clock.Armed = true;
        var e = await Assert.ThrowsAsync<FabricCallException>(() =>
            cp.CallAsync<object>(f.HostJid, "claim", null, new SandboxSpec { Image = "busybox" }, timeout: TimeSpan.FromSeconds(15)));
        clock.Armed = false;
        Assert.Equal("internal-server-error", e.Condition);
        Assert.Contains("internal error", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", e.Message, StringComparison.Ordinal);
        Assert.Empty(await f.Host.Client.ListAsync());

        var status = await cp.CallAsync<JsonElement>(f.HostJid, "status", null, null);
        Assert.Equal(1, status.GetProperty("failedRequests").GetInt64());
    }

    private sealed class FailingClock : TimeProvider
    {
        public volatile bool Armed;

        public override long GetTimestamp() => Armed ? throw new InvalidOperationException("the test's clock failed") : base.GetTimestamp();
    }
}
