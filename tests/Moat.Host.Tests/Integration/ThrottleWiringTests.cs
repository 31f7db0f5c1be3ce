using System.Text.Json;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// The response policy's "throttle" in an agent that enforces a policy: a semi-trusted sandbox that scans what its
/// policy lets it reach is throttled (the first rule of its nftables chain drops what it sends beyond the throttle
/// rate), not cut off; the throttle survives an agent restart and an operator's release removes it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ThrottleWiringTests
{
    private const string Policy = """
        default-trust: untrusted
        clients: { sam: semi-trusted }
        allow:
          - name: world
            prefixes: [198.18.251.0/24]
        """;

    [Fact]
    public async Task A_semi_trusted_scanner_is_throttled_not_cut_off_the_throttle_survives_a_restart_and_release_removes_it()
    {
        // This test is about the response policy's throttle (a rate limit after detection). The data-path scan
        // suppression, on by default, would block the scanner's new contacts for a minute after its failures
        // (ScanThrottleTests prove that): it is off here so that "throttled, not cut off" is the response's alone.
        await using var h = await AgentHarness.StartAsync(pool: "198.19.5.0/24", policy: Policy, tunnel: true,
            configure: o => o with { Watch = o.Watch with { ScanThrottle = null } });
        var world = h.WorldNs!;
        for (int i = 1; i <= 8; i++)
        {
            await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "addr", "add", $"198.18.251.{i}/32", "dev", "lo"));
        }

        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "link", "set", "lo", "up"));
        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "route", "add", h.Options.AddressPool, "via", AgentHarness.HostUplinkAddress));
        await AgentHarness.Must(h.InHostNs("ip", "route", "add", "198.18.251.0/24", "via", AgentHarness.WorldAddress));
        await AgentHarness.Must(h.InHostNs("sysctl", "-qw", $"net.ipv4.conf.{AgentHarness.UplinkDevice}.forwarding=1"));
        var sam = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "sam", Client = "sam" });
        Assert.Null(await ThrottleRuleAsync(h, sam.Id));

        // Failed first contacts to eight hosts (nothing listens there: each answers with a reset).
        await h.Client.ExecAsync("sam", ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do nc -w 1 198.18.251.$i 17 </dev/null; done; true"], timeoutSeconds: 60);
        Moat.Host.Watch.ResponseView? throttle = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((throttle = (await h.Client.AlertsAsync(sam.Id)).Responses.FirstOrDefault(r => r.Action == "throttle")) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the semi-trusted scanner was not throttled");
            await Task.Delay(50);
        }

        Assert.StartsWith("done: throttled", throttle.Outcome, StringComparison.Ordinal);
        Assert.Equal(125_000, await ThrottleRuleAsync(h, sam.Id));

        // Throttled, not cut off: a connection to an allowed host still carries data.
        using (var listener = await AgentHarness.ListenAsync(world, 9003))
        {
            try
            {
                var line = listener.StandardOutput.ReadLineAsync();
                var sent = await h.Client.ExecAsync("sam", ["sh", "-c", "echo still-here | nc -w 2 198.18.251.1 9003"], timeoutSeconds: 30);
                Assert.True(sent.ExitCode == 0, $"{sent.Stdout} {sent.Stderr}");
                Assert.Equal("still-here", await line.WaitAsync(TimeSpan.FromSeconds(30)));
            }
            finally
            {
                listener.Kill(entireProcessTree: true);
            }
        }

        await h.StopAgentAsync();
        await h.StartAgentAsync();
        deadline = DateTime.UtcNow.AddSeconds(60);
        while (await ThrottleRuleAsync(h, sam.Id) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the throttle was not put back after the agent restarted");
            await Task.Delay(50);
        }

        await h.Client.ReleaseAsync("sam", "test");
        Assert.Null(await ThrottleRuleAsync(h, sam.Id));
    }

    /// <summary>The byte rate of the "limit rate over" rule in the sandbox's chain, as nft lists it, or null.</summary>
    private static async Task<long?> ThrottleRuleAsync(AgentHarness h, string sandboxId)
    {
        var json = JsonDocument.Parse((await AgentHarness.Must(h.InHostNs("nft", "-j", "list", "chain", "inet", "moat", "sb_" + sandboxId))).Out);
        return json.RootElement.GetProperty("nftables").EnumerateArray()
            .Where(e => e.TryGetProperty("rule", out _))
            .SelectMany(e => e.GetProperty("rule").GetProperty("expr").EnumerateArray())
            .Where(x => x.TryGetProperty("limit", out var l) && l.TryGetProperty("inv", out var inv) && inv.GetBoolean())
            .Select(x => (long?)x.GetProperty("limit").GetProperty("rate").GetInt64())
            .SingleOrDefault();
    }
}
