using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// Under containment an untrusted sandbox's scan is refused by its rules and never reaches conntrack; the watchers
/// still see it, through the flow log's NFLOG refusals, and the response policy quarantines the scanner.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RefusedScanTests
{
    [Fact]
    public async Task An_untrusted_scan_refused_by_the_rules_is_detected_from_the_refusals_and_quarantined()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.6.0/24", policy: "default-trust: untrusted\n", tunnel: true);
        await FlowLogWaits.UntilRecordingAsync(h);

        // A direct route to eight hosts beyond the uplink: the sandbox's packets take it and its rules drop them.
        await AgentHarness.Must(h.InHostNs("ip", "route", "add", "198.18.252.0/24", "via", AgentHarness.WorldAddress));
        var scanner = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "scanner", Client = "mallory" });
        var before = (await h.Client.WatchStatusAsync()).FlowEvents;
        await h.Client.ExecAsync("scanner", ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do nc -w 1 198.18.252.$i 22 </dev/null & done; wait; true"], timeoutSeconds: 60);

        Moat.Host.Watch.ResponseView? quarantine = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((quarantine = (await h.Client.AlertsAsync(scanner.Id)).Responses.FirstOrDefault(r => r.Action == "quarantine")) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the refused scanner was not quarantined ({(await h.Client.WatchStatusAsync()).FlowEvents - before} flow events reached the detectors)");
            await Task.Delay(50);
        }

        Assert.StartsWith("done: quarantined", quarantine.Outcome, StringComparison.Ordinal);
        var alert = Assert.Single((await h.Client.AlertsAsync(scanner.Id)).Network, a => a.Id == quarantine.AlertId);
        Assert.Equal("trw", alert.Detector);

        // Each refusal the detectors weighed is in the flow log under the sandbox, refused by its default rule.
        var refused = await FlowLogWaits.UntilFlowAsync(h, scanner.Id, f => f.Verdict == Moat.Containment.Flows.FlowVerdict.Refused && f.DestinationPort == 22);
        Assert.Equal(Moat.Containment.Rules.RuleCompiler.RuleDefault, refused.Rule);
    }
}
