using System.Diagnostics;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// The network truth table in the agent, for every runtime tier this machine runs: a trusted, a semi-trusted and an
/// untrusted sandbox each try the host itself, an allowed service, the same host on another port, another host, and
/// the untrusted client's own address; every cell is compared with what the policy says. gVisor's own network stack
/// sends through the same veth, so the same rules must give the same table.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TierTruthTableTests
{
    private const string Web = "198.18.251.1";       // allowed to semi-trusted on tcp/80 only
    private const string Other = "198.18.251.2";     // allowed to nobody but trusted
    private const string Policy = """
        default-trust: untrusted
        clients: { tina: trusted, sam: semi-trusted, ulla: untrusted }
        allow:
          - name: web
            prefixes: [198.18.251.1/32]
            protocols: [tcp]
            ports: [80]
        """;

    /// <summary>(destination, port) → whether each of trusted, semi-trusted, untrusted may reach it.</summary>
    private static readonly (string Name, string Address, int Port, bool Trusted, bool Semi, bool Untrusted)[] Table =
    [
        ("host", "169.254.1.1", 80, true, false, false),
        ("allowed service", Web, 80, true, true, false),
        ("allowed host, other port", Web, 81, true, false, false),
        ("other host", Other, 80, true, false, false),
        ("untrusted's own client", AgentHarness.WorldAddress, 80, true, false, true),
    ];

    [Theory]
    [InlineData(RuntimeTier.Container)]
    [InlineData(RuntimeTier.Gvisor)]
    public async Task Every_trust_level_reaches_exactly_what_the_policy_says_in_every_tier(RuntimeTier tier)
    {
        // The administrator puts every client in the tier under test (for the container tier that includes the
        // untrusted one, which would get gVisor by default).
        var tiers = TierOptions.Default with { ClientTier = new Dictionary<string, RuntimeTier> { ["tina"] = tier, ["sam"] = tier, ["ulla"] = tier } };
        await using var h = await AgentHarness.StartAsync(pool: tier == RuntimeTier.Container ? "198.19.8.0/24" : "198.19.9.0/24", tiers: tiers, policy: Policy, world: true);
        var world = h.WorldNs!;
        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "link", "set", "lo", "up"));
        foreach (var a in new[] { Web, Other })
        {
            await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "addr", "add", a + "/32", "dev", "lo"));
        }

        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "route", "add", h.Options.AddressPool, "via", AgentHarness.HostUplinkAddress));
        await AgentHarness.Must(h.InHostNs("ip", "route", "add", "198.18.251.0/24", "via", AgentHarness.WorldAddress));
        await AgentHarness.Must(h.InHostNs("sysctl", "-qw", $"net.ipv4.conf.{AgentHarness.UplinkDevice}.forwarding=1"));

        var page = Path.Combine(h.Options.StateDir, "www");
        Directory.CreateDirectory(page);
        await File.WriteAllTextAsync(Path.Combine(page, "index.html"), "hello\n");
        var servers = new List<Process>
        {
            Serve(h.HostNs, "80", page),
            Serve(world, Web + ":80", page),
            Serve(world, Web + ":81", page),
            Serve(world, Other + ":80", page),
            Serve(world, AgentHarness.WorldAddress + ":80", page),
        };
        try
        {
            foreach (var (ns, port) in new[] { (h.HostNs, 80), (world, 80), (world, 81) })
            {
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while ((await AgentHarness.Sh("ip", "netns", "exec", ns, "ss", "-Hltn", "sport", "=", $":{port}")).Out.Trim().Length == 0)
                {
                    Assert.True(DateTime.UtcNow < deadline, $"the web server on port {port} in {ns} did not start");
                    await Task.Delay(20);
                }
            }

            var sandboxes = new[] { ("tina", (string?)null), ("sam", null), ("ulla", AgentHarness.WorldAddress) };
            var actual = new Dictionary<(string Client, string Cell), bool>();
            foreach (var (client, clientAddress) in sandboxes)
            {
                var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = client, Client = client, ClientAddress = clientAddress, MemoryBytes = 64 * SandboxSpec.MiB });
                Assert.Equal(tier, s.Tier);

                // Every cell probed at once from inside the sandbox; a refused probe waits out its 2 s timeout.
                var script = string.Join(" ", Table.Select((t, i) =>
                    $"(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {t.Address} {t.Port} 2>/dev/null | grep -q hello && echo '{i} yes' || echo '{i} no') &"));
                var r = await h.Client.ExecAsync(client, ["sh", "-c", script + " wait"], timeoutSeconds: 60);
                foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = line.Split(' ');
                    actual[(client, Table[int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture)].Name)] = parts[1] == "yes";
                }
            }

            var expected = Table.SelectMany(t => new[] { (("tina", t.Name), t.Trusted), (("sam", t.Name), t.Semi), (("ulla", t.Name), t.Untrusted) })
                .ToDictionary(x => x.Item1, x => x.Item2);
            var wrong = expected.Where(e => !actual.TryGetValue(e.Key, out var got) || got != e.Value)
                .Select(e => $"{e.Key.Item1} → {e.Key.Item2}: expected {(e.Value ? "reached" : "refused")}, got {(actual.TryGetValue(e.Key, out var got) ? (got ? "reached" : "refused") : "no answer")}")
                .ToList();
            Assert.True(wrong.Count == 0, $"{tier} tier: " + string.Join("; ", wrong));
        }
        finally
        {
            foreach (var server in servers)
            {
                server.Kill(entireProcessTree: true);
                server.Dispose();
            }
        }
    }

    private static Process Serve(string ns, string address, string root) =>
        Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns, "busybox", "httpd", "-f", "-p", address, "-h", root]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
}
