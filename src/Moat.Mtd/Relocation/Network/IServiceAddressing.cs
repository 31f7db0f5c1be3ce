using System.Net;
using Moat.Host.Sandboxes;

namespace Moat.Mtd.Relocation.Network;

/// <summary>
/// Keeps a relocatable service's stable address (a VIP) pointing at wherever the sandbox runs now. The sandbox's own
/// address changes with every move (each host hands out its own); clients only ever use the VIP.
/// </summary>
public interface IServiceAddressing
{
    /// <summary>The address the VIP leads to now, or null when it is not bound.</summary>
    IPAddress? Current(IPAddress vip);

    /// <summary>Points <paramref name="vip"/> at <paramref name="target"/> in one atomic change; returns the address it led to before.</summary>
    Task<IPAddress?> SwitchAsync(IPAddress vip, IPAddress target, CancellationToken cancellationToken = default);

    /// <summary>Forgets connections still mapped to an address the VIP no longer leads to, so no client keeps using it.</summary>
    Task WithdrawAsync(IPAddress vip, IPAddress old, CancellationToken cancellationToken = default);

    /// <summary>Whether a TCP connection to <paramref name="target"/>:<paramref name="port"/> succeeds from where clients come in.</summary>
    Task<bool> ProbeAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>A TCP connection to <paramref name="target"/>:<paramref name="port"/> from where clients come in, for the
    /// caller to hold (null when this addressing cannot open one); fails with <see cref="System.Net.Sockets.SocketException"/>.</summary>
    Task<System.Net.Sockets.Socket?> OpenAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Task.FromResult<System.Net.Sockets.Socket?>(null);
}

/// <summary>
/// Opens the path from the service address to a sandbox on its host (its host-side forwarding). In a deployment this is
/// network containment's rule for a published port; the surrogate lab does it with the host veth's forwarding switch.
/// </summary>
public interface ISandboxExposure
{
    Task ExposeAsync(IRelocationHost host, SandboxDetails sandbox, CancellationToken cancellationToken = default);
}

/// <summary>A relocatable service: its VIP, the port that says it is up, and how to reach it on a host.</summary>
/// <param name="Addressing">Where the VIP is kept.</param>
/// <param name="Vip">The stable service address.</param>
/// <param name="Port">TCP port probed on the new copy before the VIP switches to it.</param>
/// <param name="Exposure">Opens the path to the new copy on its host; null when hosts forward already.</param>
public sealed record ServiceBinding(IServiceAddressing Addressing, IPAddress Vip, int Port, ISandboxExposure? Exposure = null);

/// <summary>The VIP front failed to change; the message says what and why, and the old mapping is still in force.</summary>
public sealed class ServiceAddressException(string message, Exception? inner = null) : MtdException(message, inner!);
