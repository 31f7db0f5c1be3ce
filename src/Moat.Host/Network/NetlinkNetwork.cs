using System.Net;
using Moat.Linux;
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
    /// <summary>
    /// The gateway address lives on the host end (proxy ARP alone answers only where the host has another route to
    /// the gateway), and nothing is forwarded out of a sandbox until network containment installs its rules: by
    /// default a sandbox reaches its host and nothing beyond it, not a neighbour and not the uplink.
    /// </summary>
    private readonly SandboxLinkOptions _link;

    private readonly RtNetlink _host;

    /// <param name="hostNamespace">Where host ends live; null = the agent's own network namespace.</param>
    /// <param name="forwarding">
    /// Whether the host forwards what a sandbox sends beyond its host: only when containment rules are in force.
    /// </param>
    public NetlinkNetwork(string? hostNamespace, bool forwarding = false)
    {
        _link = SandboxLinkOptions.Default with { Forwarding = forwarding, GatewayOnHost = true };
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
            using var existing = SandboxLink.Attach(_host, netns, hostInterface, _link);
            if (existing is not null)
            {
                return;
            }

            if (processId is null)
            {
                // A new sandbox (or a stopped one whose plumbing went missing): make all of it afresh.
                SandboxLink.Destroy(_host, netns, hostInterface);
                SandboxLink.Prepare(_host, netns, hostInterface, _link).Dispose();
                return;
            }

            // A running sandbox lost part of its plumbing. Its processes keep their namespace, so the name is given
            // back to that namespace and a new veth pair is made into it.
            if (!NetworkNamespace.Exists(netns))
            {
                NetworkNamespace.Attach(netns, processId.Value).Dispose();
            }

            using var ns = NetworkNamespace.Open(netns);
            using var sandbox = RtNetlink.OpenIn(ns);
            _host.DeleteLink(hostInterface);
            sandbox.DeleteLink(_link.SandboxInterface);
            SandboxLink.Reconnect(_host, ns, hostInterface, _link);
        });
        return Task.CompletedTask;
    }

    public Task AssignAsync(string netns, string hostInterface, IPAddress address, CancellationToken cancellationToken = default)
    {
        Wrap(() =>
        {
            using var link = SandboxLink.Attach(_host, netns, hostInterface, _link)
                ?? throw new MoatHostException($"sandbox network {netns} / {hostInterface} is incomplete; it cannot take an address.");
            link.Assign(address);
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
