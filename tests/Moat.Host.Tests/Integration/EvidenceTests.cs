using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Moat.Containment.Flows;
using Moat.Containment.Rules;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>`moat sandbox evidence`: what a post-mortem needs, read from the kernel and the agent's logs, without touching the sandbox.</summary>
[Trait("Category", "Integration")]
public sealed class EvidenceTests
{
    /// <summary>mallory is untrusted (gvisor tier: the runtime lists the processes inside its own kernel); ops is
    /// semi-trusted (container tier: the host's /proc shows them). Both are refused their host.</summary>
    [Theory]
    [InlineData("mallory")]
    [InlineData("ops")]
    public async Task Evidence_holds_file_changes_processes_refused_flows_and_rules_each_with_a_true_hash(string client)
    {
        await using var h = await AgentHarness.StartAsync(policy: "default-trust: untrusted\nclients: { ops: semi-trusted }\n");
        var cases = Directory.CreateTempSubdirectory("moat-ev-").FullName;
        try
        {
            var suspect = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "suspect", Client = client });
            await FlowLogWaits.UntilRecordingAsync(h);
            var prep = await h.Client.ExecAsync("suspect", ["sh", "-c", "test -e /bin/vi && echo payload > /dropper.sh && rm /bin/vi && (sleep 600 </dev/null >/dev/null 2>&1 &) && echo done"]);
            Assert.Equal("done\n", prep.Stdout);
            Assert.NotEqual(0, await ContainmentWiringTests.FetchAsync(h, "suspect")); // refused: untrusted sandboxes do not reach their host
            await FlowLogWaits.UntilFlowAsync(h, suspect.Id, f => f.Verdict == FlowVerdict.Refused && f.DestinationPort == 8080);
            await h.Client.QuarantineAsync("suspect", freeze: false);

            var dir = Path.Combine(cases, "case-1");
            var report = await h.Client.EvidenceAsync("suspect", dir);

            Assert.Equal(dir, report.Directory);
            foreach (var f in report.Files)
            {
                var bytes = await File.ReadAllBytesAsync(Path.Combine(dir, f.Name));
                Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), f.Sha256);
                Assert.Equal(bytes.Length, f.Bytes);
            }

            var names = report.Files.Select(f => f.Name).ToHashSet();
            Assert.Superset(new HashSet<string> { "sandbox.json", "processes.json", "filesystem-changes.json", "filesystem-changes.tar", "flows.json", "alerts.json", "rules.nft", "manifest.json" }, names);

            using var changes = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "filesystem-changes.json")));
            var byPath = changes.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("path").GetString()!, e => e);
            Assert.Equal("added", byPath["/dropper.sh"].GetProperty("change").GetString());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes("payload\n"))), byPath["/dropper.sh"].GetProperty("sha256").GetString());
            Assert.Equal("deleted", byPath["/bin/vi"].GetProperty("change").GetString());

            if (suspect.Tier == RuntimeTier.Gvisor)
            {
                // runsc's table: UID PID PPID C STIME TIME CMD, the command last.
                var ps = await File.ReadAllLinesAsync(Path.Combine(dir, "runtime-ps.txt"));
                Assert.Contains(ps, line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() == "sleep");
            }
            else
            {
                using var processes = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "processes.json")));
                Assert.Contains(processes.RootElement.EnumerateArray(), p =>
                    p.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()).SequenceEqual(["sleep", "600"]));
            }

            using var flows = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "flows.json")));
            Assert.Contains(flows.RootElement.EnumerateArray(), f =>
                f.GetProperty("verdict").GetString() == "refused" && f.GetProperty("destinationPort").GetInt32() == 8080 && f.GetProperty("client").GetString() == client);

            var rules = await File.ReadAllTextAsync(Path.Combine(dir, "rules.nft"));
            Assert.Contains("chain " + RuleNames.Chain(suspect.Id), rules, StringComparison.Ordinal);

            using var sandbox = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "sandbox.json")));
            Assert.True(sandbox.RootElement.GetProperty("quarantined").GetBoolean());

            // Collecting changed nothing: the sandbox runs on, its dropped file still there.
            Assert.Equal("payload\n", (await h.Client.ExecAsync("suspect", ["cat", "/dropper.sh"])).Stdout);

            // Evidence never overwrites evidence.
            var again = await Assert.ThrowsAsync<HostApiException>(() => h.Client.EvidenceAsync("suspect", dir));
            Assert.Equal(400, again.Status);
            Assert.Contains("not empty", again.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(cases, recursive: true);
        }
    }
}
