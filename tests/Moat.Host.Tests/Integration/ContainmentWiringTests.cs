using System.Diagnostics;
using Moat.Containment.Flows;
using Moat.Containment.Rules;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>The agent with a containment policy: trust decides what a sandbox reaches; quarantine cuts it off; restart keeps rules.</summary>
[Trait("Category", "Integration")]
public sealed class ContainmentWiringTests
{
    private const string Policy = """
        default-trust: untrusted
        clients: { ops: trusted }
        """;

    [Fact]
    public async Task Trust_from_the_policy_decides_whether_a_sandbox_reaches_its_host_and_quarantine_cuts_it_off()
    {
        await using var h = await AgentHarness.StartAsync(policy: Policy);
        var webRoot = Directory.CreateTempSubdirectory("moat-cw-").FullName;
        using var web = await StartHttpServerAsync(h, webRoot);
        try
        {
            var trusted = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "ops", Client = "ops" });
            var stranger = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "stranger", Client = "someone" });
            await FlowLogWaits.UntilRecordingAsync(h);

            // The gateway address lives on the host end of each veth; the host's web server answers on it.
            Assert.Equal(0, await FetchAsync(h, "ops"));
            Assert.NotEqual(0, await FetchAsync(h, "stranger"));

            // The flow log names both: the stranger's try refused by the rule that keeps sandboxes off their host,
            // the trusted sandbox's connection allowed, each with its client.
            var refused = await FlowLogWaits.UntilFlowAsync(h, stranger.Id, f => f.Verdict == FlowVerdict.Refused && f.DestinationPort == 8080);
            Assert.Equal("someone", refused.Client);
            Assert.Equal(RuleCompiler.RuleHost, refused.Rule);
            Assert.Equal(stranger.Address, refused.Source.ToString());
            var allowed = await FlowLogWaits.UntilFlowAsync(h, trusted.Id, f => f.Verdict == FlowVerdict.Allowed && f.DestinationPort == 8080);
            Assert.Equal("ops", allowed.Client);
            Assert.Equal(6, allowed.Protocol);

            // A client cannot raise its own trust.
            var raise = await Assert.ThrowsAsync<HostApiException>(() =>
                h.Client.CreateAsync(SandboxSpec.Default with { Client = "someone", Trust = "trusted" }));
            Assert.Equal(400, raise.Status);

            await h.Client.QuarantineAsync("ops", freeze: false);
            Assert.NotEqual(0, await FetchAsync(h, "ops"));
            await h.Client.LiftQuarantineAsync("ops");
            Assert.Equal(0, await FetchAsync(h, "ops"));

            // A restarted agent puts the same rules back from its store.
            await h.StopAgentAsync();
            Assert.Equal(0, (await h.InHostNs("nft", "delete", "table", "inet", "moat")).Code);
            await h.StartAgentAsync();
            Assert.Equal(0, await FetchAsync(h, "ops"));
            Assert.NotEqual(0, await FetchAsync(h, "stranger"));

            await h.Client.DestroyAsync(stranger.Id);
            var table = (await h.InHostNs("nft", "-j", "list", "table", "inet", "moat")).Out;
            Assert.Contains(trusted.Id, table, StringComparison.Ordinal);
            Assert.DoesNotContain(stranger.Id, table, StringComparison.Ordinal);
        }
        finally
        {
            web.Kill(entireProcessTree: true);
            Directory.Delete(webRoot, recursive: true);
        }
    }

    [Fact]
    public async Task Without_a_policy_the_containment_verbs_say_how_to_turn_it_on()
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "plain" });

        var e = await Assert.ThrowsAsync<HostApiException>(() => h.Client.QuarantineAsync("plain", freeze: false));
        Assert.Equal(409, e.Status);
        Assert.Contains("--policy", e.Message, StringComparison.Ordinal);
    }

    /// <summary>An HTTP request with busybox nc (static busybox's wget crashes resolving through NSS): 0 when the page came back.</summary>
    internal static async Task<int> FetchAsync(AgentHarness h, string sandbox)
    {
        var r = await h.Client.ExecAsync(sandbox, ["sh", "-c", "printf 'GET /ok HTTP/1.0\\r\\n\\r\\n' | nc -w 2 169.254.1.1 8080"], timeoutSeconds: 30);
        return r.Stdout.Contains("200 OK", StringComparison.Ordinal) ? 0 : 1;
    }

    private static async Task<Process> StartHttpServerAsync(AgentHarness h, string root)
    {
        var hostNs = h.HostNs;
        File.WriteAllText(Path.Combine(root, "ok"), "ok\n");
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", hostNs, "busybox", "httpd", "-f", "-p", "8080", "-h", root })
        {
            psi.ArgumentList.Add(a);
        }

        var server = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await h.InHostNs("ss", "-Hltn", "sport", "=", ":8080")).Out.Trim().Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline && !server.HasExited, "the test's web server in the host namespace did not start listening");
            await Task.Delay(20);
        }

        return server;
    }
}
