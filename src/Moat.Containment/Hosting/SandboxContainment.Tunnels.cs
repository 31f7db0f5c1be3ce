using Moat.Containment.Rules;
using Moat.Containment.Trust;
using Moat.Containment.Tunnels;

namespace Moat.Containment.Hosting;

/// <summary>
/// The tunnels of untrusted sandboxes (WASCo §4): each untrusted sandbox whose client gave its address gets a VXLAN
/// link to that client, which its default route goes through. VXLAN ids are not stored: they are read back from the
/// kernel's links, so a restarted agent keeps every sandbox's id (the client's end depends on it).
/// </summary>
public sealed partial class SandboxContainment
{
    private readonly SemaphoreSlim _tunnelGate = new(1, 1);

    /// <summary>The tunnel of a sandbox as the kernel holds it, or null when it has none.</summary>
    public TunnelSpec? TunnelOf(string id) => _tunnels?.List().FirstOrDefault(t => t.SandboxId == id);

    /// <summary>This host's end of every tunnel (the client's <c>--host</c>), or null when the host opens none.</summary>
    public System.Net.IPAddress? TunnelHostAddress => _tunnels?.HostAddress;

    /// <summary>The VXLAN UDP port of every tunnel.</summary>
    public ushort TunnelPort => _tunnels?.Port ?? Moat.Linux.Netlink.VxlanSpec.DefaultPort;

    /// <summary>How many tunnels the kernel holds now (0 when the host opens none).</summary>
    public int TunnelCount => _tunnels?.List().Count ?? 0;

    // A tunnel's far end is the client address: one that may not be a client address (a neighbour, the host, the LAN…)
    // gets no tunnel either, even when it was stored before this check existed.
    private bool WantsTunnel(SandboxNetwork s, TrustLevel trust) =>
        trust == TrustLevel.Untrusted && s.ClientAddress is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetwork } address
        && ClientAddressRefusal(s.Client, address) is null;

    private async Task TunnelAsync(SandboxNetwork sandbox, TrustLevel trust, CancellationToken cancellationToken)
    {
        if (_tunnels is null)
        {
            return;
        }

        if (!WantsTunnel(sandbox, trust))
        {
            await _tunnels.CloseAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
            return;
        }

        await _tunnelGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var existing = _tunnels.List();
            var own = existing.FirstOrDefault(t => t.SandboxId == sandbox.Id);
            var vni = own?.Vni ?? FreeVni(existing.Select(t => t.Vni));
            await _tunnels.OpenAsync(new TunnelSpec(sandbox.Id, sandbox.Address, sandbox.ClientAddress!, vni) { Direct = own?.Direct ?? [] }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _tunnelGate.Release();
        }
    }

    /// <summary>At agent start: tunnels for exactly the live untrusted sandboxes with a client address, each keeping
    /// the VXLAN id (and direct destinations) it had; tunnels of sandboxes gone are removed.</summary>
    private async Task ReconcileTunnelsAsync(IReadOnlyList<SandboxNetwork> live, CancellationToken cancellationToken)
    {
        if (_tunnels is null)
        {
            return;
        }

        await _tunnelGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var existing = _tunnels.List().ToDictionary(t => t.SandboxId, StringComparer.Ordinal);
            var tunnelled = live.Where(s => WantsTunnel(s, TrustFor(s.Client, s.RequestedTrust))).ToList();
            var used = tunnelled.Select(s => existing.GetValueOrDefault(s.Id)?.Vni).OfType<uint>().ToList();
            var wanted = new List<TunnelSpec>();
            foreach (var s in tunnelled)
            {
                var own = existing.GetValueOrDefault(s.Id);
                var vni = own?.Vni ?? FreeVni(used);
                used.Add(vni);
                wanted.Add(new TunnelSpec(s.Id, s.Address, s.ClientAddress!, vni) { Direct = own?.Direct ?? [] });
            }

            await _tunnels.ReconcileAsync(wanted, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _tunnelGate.Release();
        }
    }

    /// <summary>The lowest VXLAN id whose link prefix no tunnel uses (ids equal modulo the slot count share one).</summary>
    private static uint FreeVni(IEnumerable<uint> used)
    {
        var slots = used.Select(v => v % TunnelAddressing.LinkSlots).ToHashSet();
        for (uint vni = 1; vni < TunnelAddressing.LinkSlots; vni++)
        {
            if (!slots.Contains(vni))
            {
                return vni;
            }
        }

        throw new TunnelException($"This host already holds {TunnelAddressing.LinkSlots - 1} tunnels: no VXLAN id is free for another one.");
    }
}
