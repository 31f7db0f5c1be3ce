using System.Globalization;
using System.Text.RegularExpressions;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>The agent enforces the policy's rates: a sandbox's traffic to the world crosses HTB classes capped at its
/// trust level's egress rate on the uplink; a policy reload changes the cap; a restarted agent keeps it; destroying the
/// sandbox removes them.</summary>
[Trait("Category", "Integration")]
public sealed partial class ShapingWiringTests
{
    private static string Policy(string egress) => $"""
        default-trust: untrusted
        clients: {"{"} ops: semi-trusted {"}"}
        allow:
          - name: world
            prefixes: [{AgentHarness.WorldAddress}/32]
        rates:
          semi-trusted: {"{"} egress: {egress} {"}"}
        """;

    [Fact]
    public async Task A_semi_trusted_sandbox_sends_through_classes_capped_at_its_rate_and_a_reload_changes_the_cap()
    {
        await using var h = await AgentHarness.StartAsync(policy: Policy("8mbit"), uplink: "100mbit");
        Assert.StartsWith("HTB", (await h.Client.StatusAsync()).Shaping, StringComparison.Ordinal);
        var ops = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "ops", Client = "ops" });
        Assert.Equal(RuntimeTier.Container, ops.Tier);

        var capped = await ClassesAsync(h, "8Mbit");
        Assert.NotEmpty(capped);
        var before = capped.Sum(c => c.Bytes);

        // 200,000 bytes over TCP to a listener in the world (busybox nc has no UDP mode). The cap holds them back for a
        // while, so the count is read once the listener has them all, not when nc returns. The listener's stdin stays
        // open: busybox nc ends the connection when its stdin ends.
        using (var listener = await AgentHarness.ListenAsync(h.WorldNs!, 9000))
        {
            try
            {
                var received = ReceivedAsync(listener.StandardOutput.BaseStream);

                var send = await h.Client.ExecAsync("ops", ["sh", "-c", $"dd if=/dev/zero bs=1000 count=200 2>/dev/null | nc -w 5 {AgentHarness.WorldAddress} 9000"], timeoutSeconds: 60);
                Assert.True(send.ExitCode == 0, $"nc: {send.Stdout} {send.Stderr}");
                Assert.Equal(200_000, await received.WaitAsync(TimeSpan.FromSeconds(60)));
            }
            finally
            {
                listener.Kill(entireProcessTree: true);
            }
        }

        var after = (await ClassesAsync(h, "8Mbit")).Sum(c => c.Bytes);
        Assert.True(after - before >= 200_000, $"the sandbox's classes counted {after - before} bytes of the 200,000 it sent: {(await h.InHostNs("tc", "-s", "class", "show", "dev", AgentHarness.UplinkDevice)).Out}");

        // A reload re-shapes running sandboxes to the new rates.
        await File.WriteAllTextAsync(Path.Combine(h.Options.StateDir, "policy.yaml"), Policy("4mbit"));
        await h.Client.ReloadPolicyAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await ClassesAsync(h, "4Mbit")).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sandbox's classes were not re-shaped to 4 Mbit after the reload");
            await Task.Delay(50);
        }

        Assert.Empty(await ClassesAsync(h, "8Mbit"));

        // A restarted agent finds the shaping in the kernel and keeps it.
        await h.StopAgentAsync();
        await h.StartAgentAsync();
        Assert.NotEmpty(await ClassesAsync(h, "4Mbit"));
        Assert.StartsWith("HTB", (await h.Client.StatusAsync()).Shaping, StringComparison.Ordinal);

        await h.Client.DestroyAsync(ops.Id);
        Assert.Empty(await ClassesAsync(h, "4Mbit"));
    }

    /// <summary>Counts what the listener writes until it ends (the sender closed the connection).</summary>
    private static async Task<long> ReceivedAsync(Stream output)
    {
        var buffer = new byte[65536];
        long total = 0;
        int n;
        while ((n = await output.ReadAsync(buffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    /// <summary>The uplink's HTB classes whose ceiling is <paramref name="ceil"/> (tc's text, as `tc -s class show` prints it).</summary>
    private static async Task<List<(string Handle, long Bytes)>> ClassesAsync(AgentHarness h, string ceil)
    {
        var (code, text) = await h.InHostNs("tc", "-s", "class", "show", "dev", AgentHarness.UplinkDevice);
        Assert.Equal(0, code);
        return ClassBlock().Matches(text)
            .Where(m => m.Groups["ceil"].Value == ceil)
            .Select(m => (m.Groups["handle"].Value, long.Parse(m.Groups["bytes"].Value, CultureInfo.InvariantCulture)))
            .ToList();
    }

    [GeneratedRegex(@"^class htb (?<handle>\S+) .*? ceil (?<ceil>\S+) .*?\n\s*Sent (?<bytes>\d+) bytes", RegexOptions.Multiline)]
    private static partial Regex ClassBlock();
}
