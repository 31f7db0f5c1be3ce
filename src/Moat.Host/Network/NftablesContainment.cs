using System.Net;
using Moat.Containment;
using Moat.Containment.Hosting;
using Moat.Containment.Trust;
using Moat.Host.Sandboxes;

namespace Moat.Host.Network;

/// <summary>
/// Containment by the administrator's policy (Moat.Containment): each sandbox's nftables chain on the host side of
/// its veth, per trust level. It is also the watchers' quarantine: a quarantined sandbox's map entries turn to drop.
/// </summary>
public sealed class NftablesContainment(SandboxContainment containment) : ISandboxContainment, Watch.ISandboxQuarantine, IDisposable
{
    public SandboxContainment Inner => containment;

    string ISandboxContainment.Mechanism => "nftables per-sandbox chains by trust level (policy " + containment.Rules.Policy.Source + ")";

    string Watch.ISandboxQuarantine.Mechanism => "nftables: the sandbox's map entries drop everything";

    /// <summary>The trust level the policy gives this spec's client (refusing a request for more).</summary>
    public string TrustOf(SandboxSpec spec)
    {
        try
        {
            return containment.TrustFor(spec.Client, Requested(spec)).ToName();
        }
        catch (ContainmentInputException e)
        {
            throw new InvalidRequestException(e.Message);
        }
    }

    public string Admit(Sandbox sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        return containment.Admit(Identity(sandbox)).ToName();
    }

    public void Forget(Sandbox sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        containment.Forget(sandbox.Id);
    }

    public void Reconcile(IEnumerable<Sandbox> live) =>
        containment.Reconcile(live.Where(s => s.Address is not null).Select(Identity));

    public Task QuarantineAsync(Sandbox sandbox, CancellationToken cancellationToken = default) =>
        containment.QuarantineAsync(sandbox.Id, freeze: false, cancellationToken);

    public Task ReleaseAsync(Sandbox sandbox, CancellationToken cancellationToken = default) =>
        containment.ReleaseAsync(sandbox.Id, cancellationToken);

    public void Dispose() => containment.Dispose();

    private static SandboxIdentity Identity(Sandbox s) => new(
        s.Id,
        s.HostInterface,
        IPAddress.Parse(s.Address!),
        s.Spec.Client,
        s.Spec.ClientAddress is { } c ? IPAddress.Parse(c) : null,
        Requested(s.Spec));

    private static TrustLevel? Requested(SandboxSpec spec) => spec.Trust is { } t ? TrustLevels.Parse(t) : null;
}
