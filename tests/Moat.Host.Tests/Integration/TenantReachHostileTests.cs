using System.Globalization;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// A tenant inside a semi-trusted or untrusted sandbox tries to reach the host it runs on: every address of the host
/// namespace, the veth gateway, and the cloud metadata address. Nothing may arrive at a listener there.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class TenantReachHostileTests
{
    private const string Policy = """
        default-trust: untrusted
        clients: { half: semi-trusted }
        """;

    private const int Port = 8081;

    [Theory]
    [InlineData("half")] // semi-trusted: container tier (runc)
    [InlineData("stranger")] // untrusted: gvisor tier (runsc)
    public async Task Sandbox_ConnectsToEveryHostAddressAndTheMetadataAddress_NothingArrives(string client)
    {
        await using var h = await AgentHarness.StartAsync(policy: Policy);
        await AgentHarness.Must(h.InHostNs("ip", "addr", "add", "169.254.169.254/32", "dev", "lo"));
        var listener = await AgentHarness.ListenAsync(h.HostNs, Port);
        try
        {
            var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "probe", Client = client });
            var targets = (await AgentHarness.Must(h.InHostNs("ip", "-4", "-o", "addr", "show")))
                .Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3].Split('/')[0])
                .Where(a => !a.StartsWith("127.", StringComparison.Ordinal))
                .Append("169.254.169.254").Append("169.254.1.1").Distinct().ToList();
            Assert.Contains("169.254.169.254", targets);

            string port = Port.ToString(CultureInfo.InvariantCulture);
            foreach (string target in targets)
            {
                var r = await h.Client.ExecAsync("probe", ["sh", "-c", $"echo hello-from-tenant | nc -w 2 {target} {port}; echo rc=$?"], timeoutSeconds: 30);
                Assert.Contains("rc=", r.Stdout, StringComparison.Ordinal);
            }

            // The one-connection listener is still waiting and has read nothing.
            Assert.False(listener.HasExited, $"a connection from the {client} sandbox reached the host's listener");
            var established = await h.InHostNs("ss", "-Htn", "state", "established", "sport", "=", ":" + port);
            Assert.Equal("", established.Out.Trim());
            Assert.NotNull(s.Address);
        }
        finally
        {
            listener.Kill(entireProcessTree: true);
            listener.Dispose();
        }
    }
}
