using System.Net;
using Moat.Linux;
using Moat.Linux.Mounts;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

namespace Moat.Host.Network;

/// <summary>
/// <see cref="ISandboxNetwork"/> over rtnetlink from inside the agent (Moat.Linux): no process per step, the peer
/// born inside the sandbox's namespace, each side's changes sent as one batch. The host side speaks through one
/// socket bound to the host namespace for the agent's whole life.
/// </summary>
internal sealed class NetlinkNetwork : ISandboxNetwork, IDisposable
{
    private const string SandboxInterface = "eth0";
    private static readonly IPAddress Gateway = SandboxLinkOptions.Default.Gateway;
    private readonly RtNetlink _host;

    /// <param name="hostNamespace">Where host ends live; null = the agent's own network namespace.</param>
    public NetlinkNetwork(string? hostNamespace)
    {
        if (hostNamespace is null)
        {
            _host = RtNetlink.Open();
        }
        else
        {
            using var ns = NetworkNamespace.Open(hostNamespace);
            _host = RtNetlink.OpenIn(ns);
        }
    }

    public Task PrepareAsync(string netns, string hostInterface, int? processId = null, CancellationToken cancellationToken = default)
    {
        Wrap(() =>
        {
            var nsExists = NetworkNamespace.Exists(netns);
            var linkExists = _host.GetLinkIndex(hostInterface) is not null;
            if (!nsExists && processId is null)
            {
                // The common case, a new sandbox: the whole plumbing in two batches.
                if (linkExists)
                {
                    _host.DeleteLink(hostInterface);
                }

                SandboxLink.Prepare(_host, netns, hostInterface).Dispose();
                AddGatewayAddress(hostInterface);
                return;
            }

            if (!nsExists)
            {
                // A running sandbox lost its namespace's name: give the name back to the namespace it still lives in.
                var path = Path.Combine(NetworkNamespace.RunDirectory, netns);
                Directory.CreateDirectory(NetworkNamespace.RunDirectory);
                File.WriteAllBytes(path, []);
                MountTable.BindMount($"/proc/{processId}/ns/net", path);
                linkExists = false;
            }

            using var ns = NetworkNamespace.Open(netns);
            using var sandbox = RtNetlink.OpenIn(ns);
            if (!linkExists || sandbox.GetLinkIndex(SandboxInterface) is null)
            {
                _host.DeleteLink(hostInterface);
                _host.CreateVeth(new VethSpec(hostInterface, SandboxInterface, ns) { Up = true });
                var index = _host.GetLinkIndex(hostInterface) ?? throw new MoatHostException($"{hostInterface} vanished right after it was made.");
                _host.Execute(new NetlinkBatch()
                    .SetIpv4Settings(index, (Ipv4DeviceSetting.ProxyArp, 1u))
                    .SetArpProxyDelay(index, TimeSpan.Zero));
                AddGatewayAddress(hostInterface);
            }

            sandbox.Execute(new NetlinkBatch().SetLinkUp("lo").SetLinkUp(SandboxInterface));
        });
        return Task.CompletedTask;
    }

    public Task AssignAsync(string netns, string hostInterface, IPAddress address, CancellationToken cancellationToken = default)
    {
        Wrap(() =>
        {
            using var ns = NetworkNamespace.Open(netns);
            using var sandbox = RtNetlink.OpenIn(ns);
            var eth = sandbox.GetLinkIndex(SandboxInterface) ?? throw new MoatHostException($"sandbox namespace {netns} has no {SandboxInterface}.");
            var host = _host.GetLinkIndex(hostInterface) ?? throw new MoatHostException($"host interface {hostInterface} is missing.");
            try
            {
                sandbox.AddAddress(eth, address, 32);
            }
            catch (LinuxException e) when (e.Errno == Errno.EEXIST)
            {
                // Reconciliation re-asserts an address that is already there.
            }

            sandbox.Execute(new NetlinkBatch()
                .ReplaceRoute(new RouteSpec(new IPNetwork(Gateway, 32), eth) { Scope = RouteScope.Link })
                .ReplaceRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), eth) { Gateway = Gateway, OnLink = true }));
            _host.ReplaceRoute(new RouteSpec(new IPNetwork(address, 32), host) { Scope = RouteScope.Link });
        });
        return Task.CompletedTask;
    }

    public Task DestroyAsync(string netns, string hostInterface, CancellationToken cancellationToken = default)
    {
        Wrap(() => SandboxLink.Destroy(_host, netns, hostInterface));
        return Task.CompletedTask;
    }

    public Task<NetworkPresence> InspectAsync(string netns, string hostInterface, CancellationToken cancellationToken = default) =>
        Task.FromResult(Wrap(() => new NetworkPresence(NetworkNamespace.Exists(netns), _host.GetLinkIndex(hostInterface) is not null)));

    public void Dispose() => _host.Dispose();

    /// <summary>
    /// The gateway address on the host end too: proxy ARP alone answers only where the host has some other route to
    /// the gateway, and the host needs a source address of its own to reach the sandbox from a namespace without one.
    /// </summary>
    private void AddGatewayAddress(string hostInterface)
    {
        var index = _host.GetLinkIndex(hostInterface) ?? throw new MoatHostException($"host interface {hostInterface} is missing.");

        // No forwarding out of a sandbox until network containment installs its rules: a sandbox reaches its host and
        // nothing beyond it (not a neighbour, not the uplink) by default.
        _host.Execute(new NetlinkBatch().SetIpv4Settings(index, (Ipv4DeviceSetting.Forwarding, 0u)));
        try
        {
            _host.AddAddress(index, Gateway, 32);
        }
        catch (LinuxException e) when (e.Errno == Errno.EEXIST)
        {
            // Already there (a repair of a half-made link).
        }
    }

    private static void Wrap(Action action) => Wrap(() =>
    {
        action();
        return true;
    });

    private static T Wrap<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (LinuxException e)
        {
            throw new MoatHostException($"network plumbing failed: {e.Message}", e);
        }
    }
}
