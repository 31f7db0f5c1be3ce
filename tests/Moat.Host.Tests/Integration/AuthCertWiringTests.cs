using System.Diagnostics;
using Moat.Host.Sandboxes;
using Moat.Pki.Authority;
using Moat.Pki.Storage;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// `moat sandbox allow --authcert --key` against an agent that trusts a root for authcerts: node A (a service in the
/// world namespace) grants a user's key a path; a thief holding a copy of the authcert but not the key opens nothing;
/// the user opens exactly that node for its untrusted sandbox, which then reaches it directly.
/// </summary>
[Trait("Category", "Integration")]
public sealed class AuthCertWiringTests
{
    private const string NodeA = "198.18.251.1";
    private const int Port = 9002;

    [Fact]
    public async Task Only_the_holder_of_the_granted_key_opens_the_path_and_only_to_node_A()
    {
        var dir = Path.Combine(Path.GetTempPath(), "moat-authcert-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var root = CertificateAuthority.CreateRoot("authcert wiring root", TimeSpan.FromDays(1));
            await File.WriteAllTextAsync(Path.Combine(dir, "root.crt"), root.Certificate.ExportCertificatePem() + "\n");
            await using var h = await AgentHarness.StartAsync(policy: "default-trust: untrusted\n", tunnel: true, authCertRoot: Path.Combine(dir, "root.crt"));
            var world = h.WorldNs!;
            await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "addr", "add", NodeA + "/32", "dev", "lo"));
            await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "link", "set", "lo", "up"));
            await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "route", "add", h.Options.AddressPool, "via", AgentHarness.HostUplinkAddress));
            await AgentHarness.Must(h.InHostNs("ip", "route", "add", NodeA + "/32", "via", AgentHarness.WorldAddress));

            // Replies come back in by the uplink (an agent given --uplink does this itself; this one shapes nothing).
            await AgentHarness.Must(h.InHostNs("sysctl", "-qw", $"net.ipv4.conf.{AgentHarness.UplinkDevice}.forwarding=1"));

            // Keys and certificates made by the real CLI, except node A's certificate (issued by the test's root).
            var user = Path.Combine(dir, "user");
            var thief = Path.Combine(dir, "thief");
            foreach (var who in new[] { user, thief })
            {
                await AgentHarness.Must(AgentHarness.Sh([.. h.Moat("pki", "keygen", "--key", who + ".key", "--public", who + ".pub")]));
            }

            using var nodeKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var nodeCert = root.IssueNodeCertificate("node A", System.Security.Cryptography.X509Certificates.PublicKey.CreateFromSubjectPublicKeyInfo(nodeKey.ExportSubjectPublicKeyInfo(), out _), [System.Net.IPAddress.Parse(NodeA)], TimeSpan.FromHours(2));
            await File.WriteAllTextAsync(Path.Combine(dir, "node.crt"), nodeCert.ExportCertificatePem() + "\n");
            await PemFiles.WritePrivateKeyAsync(Path.Combine(dir, "node.key"), nodeKey);
            var grant = Path.Combine(dir, "grant.pem");
            await AgentHarness.Must(AgentHarness.Sh([.. h.Moat("authcert", "issue", "--node-cert", Path.Combine(dir, "node.crt"), "--node-key", Path.Combine(dir, "node.key"), "--user-key", user + ".pub", "--address", NodeA, "--ttl", "10m", "--out", grant)]));

            await FlowLogWaits.UntilRecordingAsync(h);
            var job = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "job", Client = "stranger" });
            using var listener = await AgentHarness.ListenAsync(world, Port);
            try
            {
                var send = $"echo hello | nc -w 2 {NodeA} {Port}";
                Assert.NotEqual(0, (await h.Client.ExecAsync("job", ["sh", "-c", send], timeoutSeconds: 30)).ExitCode);

                // The thief has the authcert (it is not secret) but not the user's key: refused, exit 3, nothing opened.
                var stolen = await AgentHarness.Sh([.. h.Moat("sandbox", "allow", "job", "--authcert", grant, "--key", thief + ".key")]);
                Assert.True(stolen.Code == 3, stolen.Out);
                Assert.Contains("does not hold", stolen.Out, StringComparison.Ordinal);
                Assert.NotEqual(0, (await h.Client.ExecAsync("job", ["sh", "-c", send], timeoutSeconds: 30)).ExitCode);

                var opened = await AgentHarness.Sh([.. h.Moat("sandbox", "allow", "job", "--authcert", grant, "--key", user + ".key")]);
                Assert.True(opened.Code == 0, opened.Out);
                Assert.StartsWith($"open: {NodeA} until", opened.Out, StringComparison.Ordinal);
                var line = listener.StandardOutput.ReadLineAsync();
                var sent = await h.Client.ExecAsync("job", ["sh", "-c", send], timeoutSeconds: 30);
                Assert.True(sent.ExitCode == 0, $"nc after the opening: {sent.Stdout} {sent.Stderr}");
                Assert.Equal("hello", await line.WaitAsync(TimeSpan.FromSeconds(30)));

                // Exactly that node: the world's own address stays refused, by the sandbox's default rule.
                await h.Client.ExecAsync("job", ["sh", "-c", $"echo x | nc -w 1 {AgentHarness.WorldAddress} {Port}"], timeoutSeconds: 30);
                var refused = await FlowLogWaits.UntilFlowAsync(h, job.Id, f => f.Verdict == Moat.Containment.Flows.FlowVerdict.Refused && f.Destination.ToString() == AgentHarness.WorldAddress);
                Assert.Equal(Moat.Containment.Rules.RuleCompiler.RuleDefault, refused.Rule);
            }
            finally
            {
                listener.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
