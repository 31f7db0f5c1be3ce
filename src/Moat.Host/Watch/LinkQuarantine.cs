using Moat.Host.Network;
using Moat.Host.Sandboxes;
using Moat.Linux;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Host.Watch;

/// <summary>
/// Quarantine by taking the host end of the sandbox's veth pair down (rtnetlink, in the host namespace): nothing
/// enters or leaves the sandbox, its processes keep running. Root inside the sandbox cannot undo it: the link's
/// host end lives outside its namespace. Releasing sets the link up again and re-asserts the sandbox's address and
/// routes (the kernel drops the host's /32 route to the sandbox when the link goes down).
/// </summary>
internal sealed class LinkQuarantine : ISandboxQuarantine, IDisposable
{
    private readonly RtNetlink _host;
    private readonly ISandboxNetwork _network;
    private readonly Lock _gate = new();

    public LinkQuarantine(string? hostNamespace, ISandboxNetwork network)
    {
        _network = network;
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

    public string Mechanism => "host end of the veth pair set down";

    public Task QuarantineAsync(Sandbox sandbox, CancellationToken cancellationToken = default)
    {
        Set(sandbox, up: false);
        return Task.CompletedTask;
    }

    public async Task ReleaseAsync(Sandbox sandbox, CancellationToken cancellationToken = default)
    {
        Set(sandbox, up: true);
        if (sandbox.Address is not null)
        {
            await _network.AssignAsync(sandbox.Netns, sandbox.HostInterface, System.Net.IPAddress.Parse(sandbox.Address), cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _host.Dispose();

    private void Set(Sandbox sandbox, bool up)
    {
        try
        {
            lock (_gate)
            {
                if (up)
                {
                    _host.SetLinkUp(sandbox.HostInterface);
                }
                else
                {
                    _host.SetLinkDown(sandbox.HostInterface);
                }
            }
        }
        catch (LinuxException e)
        {
            throw new MoatHostException($"cannot set {sandbox.HostInterface} (sandbox {sandbox.DisplayName}) {(up ? "up" : "down")}: {e.Message}", e);
        }
    }
}
