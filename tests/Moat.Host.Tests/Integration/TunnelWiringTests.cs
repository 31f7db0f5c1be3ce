using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Moat.Containment.Flows;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// An agent started with --tunnel-address gives each untrusted sandbox whose client gave its address a VXLAN tunnel to
/// that client: the harness's world namespace plays the client, brings up its end with the command `moat sandbox
/// inspect` prints, and a service on the client's side answers the sandbox only through the tunnel, while an untrusted
/// sandbox without a tunnel is refused on the direct path. The tunnel outlives an agent restart with its VXLAN id and
/// goes with its sandbox.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TunnelWiringTests
{
    private const string Service = "198.18.251.1";   // on the client's (world's) loopback: beyond the client
    private const int Port = 9001;

    [Fact]
    public async Task An_untrusted_sandbox_reaches_beyond_its_client_through_the_tunnel_only_and_the_tunnel_survives_a_restart()
    {
        await using var h = await AgentHarness.StartAsync(policy: "default-trust: untrusted\n", tunnel: true);
        var world = h.WorldNs!;
        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "addr", "add", Service + "/32", "dev", "lo"));
        await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "link", "set", "lo", "up"));

        // The host has a direct route to the service: without a tunnel, a sandbox's packets take it and the rules refuse them.
        await AgentHarness.Must(h.InHostNs("ip", "route", "add", "198.18.251.0/24", "via", AgentHarness.WorldAddress));
        Assert.StartsWith($"VXLAN from {AgentHarness.HostUplinkAddress}", (await h.Client.StatusAsync()).Tunnels, StringComparison.Ordinal);
        await FlowLogWaits.UntilRecordingAsync(h);

        var tunnelled = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "tun", Client = "stranger", ClientAddress = AgentHarness.WorldAddress });
        var alone = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "alone", Client = "loner" });
        Assert.Null((await h.Client.InspectAsync("alone")).Tunnel);
        var tunnel = (await h.Client.InspectAsync("tun")).Tunnel;
        Assert.NotNull(tunnel);
        Assert.Equal((tunnelled.Address, AgentHarness.WorldAddress, AgentHarness.HostUplinkAddress), (tunnel.SandboxAddress, tunnel.ClientAddress, tunnel.HostAddress));

        // The kernel's view (iproute2's JSON, not Moat's): a VXLAN link with that id to the client.
        var link = JsonDocument.Parse((await AgentHarness.Must(h.InHostNs("ip", "-d", "-j", "link", "show", "mt" + tunnelled.Id))).Out).RootElement[0].GetProperty("linkinfo").GetProperty("info_data");
        Assert.Equal(tunnel.Vni, link.GetProperty("id").GetUInt32());
        Assert.Equal(AgentHarness.WorldAddress, link.GetProperty("remote").GetString());

        using var listener = await AgentHarness.ListenAsync(world, Port);
        try
        {

            // No tunnel: the direct path, refused by the sandbox's default rule and logged under its id.
            var refused = await h.Client.ExecAsync("alone", ["sh", "-c", $"echo no | nc -w 2 {Service} {Port}"], timeoutSeconds: 30);
            Assert.NotEqual(0, refused.ExitCode);
            var refusal = await FlowLogWaits.UntilFlowAsync(h, alone.Id, f => f.Verdict == FlowVerdict.Refused && Equals(f.Destination, IPAddress.Parse(Service)));
            Assert.Equal(Moat.Containment.Rules.RuleCompiler.RuleDefault, refusal.Rule);

            // The client brings up its end with the command inspect printed, in its own namespace, by the real CLI.
            var clientState = Path.Combine(h.Options.StateDir, "client-tunnels");
            await AgentHarness.Must(AgentHarness.Sh([.. h.Moat([.. tunnel.ClientCommand.Split(' ').Skip(1), "--netns", world, "--state", clientState])]));

            await SendAndReceiveAsync(h, listener, "through the tunnel");
            var received = JsonDocument.Parse((await AgentHarness.Must(AgentHarness.Sh("ip", "-n", world, "-s", "-j", "link", "show", "mc" + tunnel.Vni))).Out).RootElement[0]
                .GetProperty("stats64").GetProperty("rx").GetProperty("packets").GetInt64();
            Assert.True(received > 0, "the client's tunnel link received nothing");
        }
        finally
        {
            listener.Kill(entireProcessTree: true);
        }

        // A restarted agent keeps the tunnel and its id: the client's end needs no change.
        await h.StopAgentAsync();
        await h.StartAgentAsync();
        var kept = (await h.Client.InspectAsync("tun")).Tunnel;
        Assert.Equal((tunnel.Vni, tunnel.ClientCommand), (kept?.Vni, kept?.ClientCommand));
        using (var again = await AgentHarness.ListenAsync(world, Port))
        {
            try
            {
                await SendAndReceiveAsync(h, again, "after the restart");
            }
            finally
            {
                again.Kill(entireProcessTree: true);
            }
        }

        // Destroying the sandbox removes its link and its routing rules.
        await h.Client.DestroyAsync("tun");
        Assert.NotEqual(0, (await h.InHostNs("ip", "link", "show", "mt" + tunnelled.Id)).Code);
        Assert.DoesNotContain(tunnelled.Address!, (await AgentHarness.Must(h.InHostNs("ip", "rule", "show"))).Out, StringComparison.Ordinal);
        Assert.StartsWith($"VXLAN from {AgentHarness.HostUplinkAddress}", (await h.Client.StatusAsync()).Tunnels, StringComparison.Ordinal);
        Assert.Contains("(0 open)", (await h.Client.StatusAsync()).Tunnels, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tunnel_address_that_is_not_an_IPv4_address_or_comes_without_a_policy_is_refused_in_one_sentence()
    {
        var bad = Assert.Throws<InvalidRequestException>(() => new Agent.HostAgentOptions { TunnelAddress = "fe80::1", InitBinary = "/bin/true" }.Validate());
        Assert.Contains("fe80::1", bad.Message, StringComparison.Ordinal);

        var state = Path.Combine(Path.GetTempPath(), "moat-tunnel-" + Guid.NewGuid().ToString("N"));
        try
        {
            var noPolicy = await Assert.ThrowsAsync<InvalidRequestException>(() => Agent.HostAgent.BuildAsync(
                new Agent.HostAgentOptions { StateDir = state, TunnelAddress = "198.18.250.1" }, Moat.Cli.Composition.ImageCatalog.ForStateDir));
            Assert.Contains("--tunnel-address", noPolicy.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task SendAndReceiveAsync(AgentHarness h, Process listener, string what)
    {
        var line = listener.StandardOutput.ReadLineAsync();
        var sent = await h.Client.ExecAsync("tun", ["sh", "-c", $"echo hello | nc -w 2 {Service} {Port}"], timeoutSeconds: 30);
        Assert.True(sent.ExitCode == 0, $"nc {what}: {sent.Stdout} {sent.Stderr}");
        Assert.Equal("hello", await line.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
