using System.Net;
using Moat.Host.Runtime;

namespace Moat.Host.Network;

/// <summary>
/// <see cref="ISandboxNetwork"/> through iproute2's batch mode: three processes per prepare, two per assign. The
/// peer is created directly inside the sandbox's namespace, never moved (a move costs ~33 ms here).
/// </summary>
internal sealed class IpToolNetwork : ISandboxNetwork
{
    public const string Gateway = "169.254.1.1";
    private readonly string? _hostNamespace;

    /// <param name="hostNamespace">Where host ends live; null = this process's namespace (tests pass their own).</param>
    public IpToolNetwork(string? hostNamespace) => _hostNamespace = hostNamespace;

    public async Task PrepareAsync(string netns, string hostInterface, int? processId = null, CancellationToken cancellationToken = default)
    {
        var presence = await InspectAsync(netns, hostInterface, cancellationToken).ConfigureAwait(false);
        if (!presence.NamespaceExists)
        {
            if (presence.HostInterfaceExists)
            {
                await Ip(HostArgs("link", "del", hostInterface), null, cancellationToken).ConfigureAwait(false);
            }

            presence = presence with { HostInterfaceExists = false };
            await Ip(processId is { } pid ? ["netns", "attach", netns, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)] : ["netns", "add", netns],
                null, cancellationToken).ConfigureAwait(false);
        }

        if (!presence.HostInterfaceExists)
        {
            await Ip(HostArgs("-batch", "-"), $"""
                link add {hostInterface} type veth peer name eth0 netns {netns}
                addr add {Gateway}/32 dev {hostInterface}
                link set {hostInterface} up
                """, cancellationToken).ConfigureAwait(false);
        }

        await Ip(["-n", netns, "-batch", "-"], """
            link set lo up
            link set eth0 up
            """, cancellationToken).ConfigureAwait(false);
    }

    public async Task AssignAsync(string netns, string hostInterface, IPAddress address, CancellationToken cancellationToken = default)
    {
        await Ip(["-n", netns, "-batch", "-"], $"""
            addr replace {address}/32 dev eth0
            route replace {Gateway}/32 dev eth0 scope link
            route replace default via {Gateway} dev eth0 onlink
            """, cancellationToken).ConfigureAwait(false);
        await Ip(HostArgs("route", "replace", $"{address}/32", "dev", hostInterface, "scope", "link"), null, cancellationToken).ConfigureAwait(false);
    }

    public async Task DestroyAsync(string netns, string hostInterface, CancellationToken cancellationToken = default)
    {
        // Deleting the host end first is synchronous and takes the peer with it; `ip netns del` alone leaves the
        // pair alive until the namespace's asynchronous cleanup, and the name could not be reused meanwhile.
        var del = await ProcessRunner.RunAsync("ip", HostArgs("link", "del", hostInterface), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!del.Succeeded && !del.Diagnostic.Contains("Cannot find device", StringComparison.Ordinal))
        {
            throw new ToolFailedException("ip", ["link", "del", hostInterface], del);
        }

        if (File.Exists(Path.Combine("/run/netns", netns)))
        {
            var ns = await ProcessRunner.RunAsync("ip", ["netns", "del", netns], cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!ns.Succeeded && File.Exists(Path.Combine("/run/netns", netns)))
            {
                throw new ToolFailedException("ip", ["netns", "del", netns], ns);
            }
        }
    }

    public async Task<NetworkPresence> InspectAsync(string netns, string hostInterface, CancellationToken cancellationToken = default)
    {
        var ns = File.Exists(Path.Combine("/run/netns", netns));
        var link = await ProcessRunner.RunAsync("ip", HostArgs("-j", "link", "show", "dev", hostInterface), cancellationToken: cancellationToken).ConfigureAwait(false);
        return new NetworkPresence(ns, link.Succeeded);
    }

    private string[] HostArgs(params string[] args) =>
        _hostNamespace is null ? args : ["-n", _hostNamespace, .. args];

    private static Task<ProcessResult> Ip(string[] args, string? stdin, CancellationToken ct) =>
        ProcessRunner.RunCheckedAsync("ip", args, stdin, TimeSpan.FromSeconds(30), ct);
}
