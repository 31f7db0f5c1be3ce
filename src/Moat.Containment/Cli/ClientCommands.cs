using System.CommandLine;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Moat.Containment.Tunnels;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Cli;

/// <summary>The <c>moat client</c> verbs run on the client's machine: <c>moat client tunnel</c> sets up its end of a sandbox tunnel.</summary>
public static class ClientCommands
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Command Create()
    {
        var client = new Command("client", "Run on a client's machine: the client's side of its sandboxes' network containment.");
        client.Subcommands.Add(CreateTunnel());
        return client;
    }

    private static Command CreateTunnel()
    {
        var host = new Option<string?>("--host") { Description = "The surrogate host's address, as this machine reaches it (the tunnel's other end)." };
        var vni = new Option<uint?>("--vni") { Description = "The VXLAN id the host gave the sandbox's tunnel (1 to 16777215)." };
        var sandbox = new Option<string?>("--sandbox") { Description = "The sandbox's address: routed into the tunnel, the only source accepted out of it." };
        var nat = new Option<bool>("--nat") { Description = "Masquerade the sandbox's traffic behind this machine's address as it leaves here." };
        var uplink = new Option<string?>("--uplink") { Description = "With --nat: masquerade only out of this interface (default: any but the tunnel)." };
        var local = new Option<string?>("--local") { Description = "This machine's address toward the host (default: the one routing picks)." };
        var port = new Option<ushort>("--port") { Description = "The VXLAN UDP port; the host must use the same.", DefaultValueFactory = _ => Linux.Netlink.VxlanSpec.DefaultPort };
        var down = new Option<bool>("--down") { Description = "Remove the tunnel given by --vni, or every tunnel set up here when --vni is absent." };
        var state = new Option<string>("--state") { Description = "Where the tunnels set up here are recorded.", DefaultValueFactory = _ => ClientTunnelOptions.DefaultStateDirectory };
        var netns = new Option<string?>("--netns") { Description = "Act inside this named network namespace (/run/netns/NAME) instead of this process's." };
        var json = new Option<bool>("--json") { Description = "Print what was set up or removed as JSON." };
        var command = new Command("tunnel", """
            Set up this machine's end of a sandbox's tunnel. An untrusted sandbox reaches the rest of the network only
            through its client: the surrogate host sends everything the sandbox sends (except to the client itself and
            to destinations the host's policy opens directly) through a VXLAN tunnel to this machine. Here the tunnel
            gets an interface (mc<VNI>), a route to the sandbox, a forward filter that accepts only the sandbox's
            address out of the tunnel, IPv4 forwarding, and with --nat a masquerade so that the rest of the network
            sees this machine, not the sandbox. The host's side is built by the host agent when it hands out the
            sandbox; it tells you --host, --vni and --sandbox.

            Examples:
              moat client tunnel --host 203.0.113.7 --vni 4242 --sandbox 10.77.0.12 --nat
              moat client tunnel --host 203.0.113.7 --vni 4242 --sandbox 10.77.0.12 --nat --uplink wlan0 --json
              moat client tunnel --down --vni 4242      remove one tunnel
              moat client tunnel --down                 remove every tunnel set up here (forwarding goes back to what it was)
            """);
        foreach (var option in new Option[] { host, vni, sandbox, nat, uplink, local, port, down, state, netns, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            NetworkNamespace? ns = null;
            try
            {
                if (parseResult.GetValue(netns) is { } name)
                {
                    if (!NetworkNamespace.Exists(name))
                    {
                        await error.WriteLineAsync($"--netns '{name}' is not a named network namespace: see 'ip netns list'.").ConfigureAwait(false);
                        return 2;
                    }

                    ns = NetworkNamespace.Open(name);
                }

                var tunnels = new ClientTunnel(new ClientTunnelOptions { StateDirectory = parseResult.GetValue(state)!, Namespace = ns });
                if (parseResult.GetValue(down))
                {
                    var removed = await tunnels.DownAsync(parseResult.GetValue(vni), cancellationToken).ConfigureAwait(false);
                    if (parseResult.GetValue(json))
                    {
                        await output.WriteLineAsync(JsonSerializer.Serialize(new { removed }, Json)).ConfigureAwait(false);
                    }
                    else
                    {
                        await output.WriteLineAsync(removed.Count == 0 ? "No tunnel to remove." : $"Removed {string.Join(", ", removed.Select(r => r.Interface))}.").ConfigureAwait(false);
                    }

                    return 0;
                }

                var missing = new[] { ("--host", parseResult.GetValue(host) is null), ("--vni", parseResult.GetValue(vni) is null), ("--sandbox", parseResult.GetValue(sandbox) is null) }
                    .Where(m => m.Item2).Select(m => m.Item1).ToList();
                if (missing.Count > 0)
                {
                    await error.WriteLineAsync($"moat client tunnel needs {string.Join(", ", missing)} (or --down to remove tunnels); the host agent prints all three when it hands out the sandbox.").ConfigureAwait(false);
                    return 2;
                }

                var spec = new ClientTunnelSpec(ParseAddress(parseResult.GetValue(host)!, "--host"), parseResult.GetValue(vni)!.Value, ParseAddress(parseResult.GetValue(sandbox)!, "--sandbox"))
                {
                    Nat = parseResult.GetValue(nat),
                    Uplink = parseResult.GetValue(uplink),
                    Local = parseResult.GetValue(local) is { } l ? ParseAddress(l, "--local") : null,
                    Port = parseResult.GetValue(port),
                };
                var up = await tunnels.UpAsync(spec, cancellationToken).ConfigureAwait(false);
                if (parseResult.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(up, Json)).ConfigureAwait(false);
                }
                else
                {
                    await output.WriteLineAsync($"Tunnel {up.Interface} up: sandbox {up.Sandbox} via host {up.Host} (link {up.ClientLinkAddress} <-> {up.HostLinkAddress}){(up.Nat ? ", NAT behind this machine" : "")}.").ConfigureAwait(false);
                }

                return 0;
            }
            catch (ContainmentException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return e is ContainmentInputException || e.InnerException is null ? 2 : 1;
            }
            finally
            {
                ns?.Dispose();
            }
        });
        return command;
    }

    internal static IPAddress ParseAddress(string text, string option) =>
        IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? address
            : throw new ContainmentInputException($"{option} '{text}' is not an IPv4 address (e.g. 198.18.0.1).");
}
