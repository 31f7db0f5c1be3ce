using System.Net;
using Moat.Containment;
using Moat.Containment.Flows;
using Moat.Containment.Hosting;
using Moat.Containment.Trust;
using Moat.Host.Sandboxes;

namespace Moat.Host.Network;

/// <summary>
/// Containment by the administrator's policy (Moat.Containment): each sandbox's nftables chain on the host side of
/// its veth, per trust level. It is also the watchers' quarantine: a quarantined sandbox's map entries turn to drop.
/// </summary>
/// <remarks>Every contained sandbox is also named in the flow log's attribution table, so that its connections are
/// recorded under its id and client (trusted ones too: a post-mortem may need them as well).</remarks>
public sealed class NftablesContainment(SandboxContainment containment, FlowAttributionTable? flows = null) : ISandboxContainment, Watch.ISandboxQuarantine, Watch.ISandboxThrottle, IDisposable
{
    /// <summary>What a watcher's "throttle" response allows a sandbox to send, in bytes per second: 1 Mbit/s.</summary>
    public const long ThrottleBytesPerSecond = 125_000;

    public SandboxContainment Inner => containment;

    /// <summary>Who the flow log attributes connections to: the sandboxes this containment admitted.</summary>
    public FlowAttributionTable Flows { get; } = flows ?? new FlowAttributionTable();

    string ISandboxContainment.Mechanism => "nftables per-sandbox chains by trust level (policy " + containment.Rules.Policy.Source + ")";

    string Watch.ISandboxQuarantine.Mechanism => "nftables: the sandbox's map entries drop everything";

    string Watch.ISandboxThrottle.Mechanism => $"nftables: the first rule of the sandbox's chain drops what it sends beyond {ThrottleBytesPerSecond * 8 / 1000} kbit/s";

    Task Watch.ISandboxThrottle.ThrottleAsync(Sandbox sandbox, CancellationToken cancellationToken) =>
        Throttling(sandbox, id => containment.Rules.Throttle(id, ThrottleBytesPerSecond));

    Task Watch.ISandboxThrottle.ReleaseAsync(Sandbox sandbox, CancellationToken cancellationToken) =>
        Throttling(sandbox, containment.Rules.Unthrottle);

    private static Task Throttling(Sandbox sandbox, Action<string> change)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        try
        {
            change(sandbox.Id);
            return Task.CompletedTask;
        }
        catch (ContainmentException e)
        {
            throw new MoatHostException($"the throttle of sandbox {sandbox.Id} could not be changed: {e.Message}", e);
        }
    }

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

    /// <summary>The trust levels the policy in force gives (the clients it names, its defaults), for the warm pool.</summary>
    public Sandboxes.ClientTrustLevels PolicyTrustLevels()
    {
        var policy = containment.Rules.Policy;
        return new Sandboxes.ClientTrustLevels(
            policy.Clients.ToDictionary(c => c.Key, c => c.Value.ToName(), StringComparer.Ordinal),
            policy.DefaultTrust.ToName(),
            policy.RemoteDefaultTrust.ToName());
    }

    public string? ClientAddressRefusal(string client, IPAddress address) => containment.ClientAddressRefusal(client, address);

    public bool Binds(string client, IPAddress address) => containment.Binds(client, address);

    public Moat.Containment.Policy.ClientQuota QuotaOf(string client, string trust) =>
        containment.Rules.Policy.QuotaFor(client, TrustLevels.TryParse(trust, out var level) ? level : TrustLevel.Untrusted);

    public async Task<string> AdmitAsync(Sandbox sandbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        var identity = Identity(sandbox);
        string trust;
        try
        {
            trust = (await containment.AdmitAsync(identity, cancellationToken).ConfigureAwait(false)).ToName();
        }
        catch (ContainmentInputException e)
        {
            throw new InvalidRequestException(e.Message);
        }
        catch (Moat.Containment.Shaping.ShapingException e)
        {
            throw new MoatHostException($"the rates of sandbox {sandbox.Id}'s trust level could not be put in force: {e.Message}", e);
        }
        catch (Moat.Containment.Tunnels.TunnelException e)
        {
            throw new MoatHostException($"the tunnel of sandbox {sandbox.Id} to its client could not be opened: {e.Message}", e);
        }

        Flows.Set(identity.Id, identity.Address, identity.Client);
        return trust;
    }

    public async Task ForgetAsync(Sandbox sandbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        await containment.ForgetAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
        Flows.Remove(sandbox.Id);
    }

    public async Task ReconcileAsync(IEnumerable<Sandbox> live, CancellationToken cancellationToken = default)
    {
        var identities = live.Where(s => s.Address is not null).Select(Identity).ToList();
        await containment.ReconcileAsync(identities, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var s in identities)
        {
            Flows.Set(s.Id, s.Address, s.Client);
        }
    }

    public SandboxTunnel? TunnelOf(Sandbox sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        return containment.TunnelOf(sandbox.Id) is { } t && containment.TunnelHostAddress is { } host
            ? new SandboxTunnel(t.Vni, host.ToString(), t.ClientUnderlayAddress.ToString(), t.SandboxAddress.ToString(), [.. t.Direct.Select(d => d.ToString())], containment.TunnelPort)
            : null;
    }

    /// <summary>One phrase for `moat host status`: whether untrusted sandboxes get tunnels to their clients.</summary>
    public string Tunnels => containment.TunnelHostAddress is { } host
        ? $"VXLAN from {host} to the clients of untrusted sandboxes that give their address ({containment.TunnelCount} open)"
        : "off: untrusted sandboxes reach their client and authcert-opened nodes only (start the agent with --tunnel-address ADDR to open tunnels)";

    /// <summary>One phrase for `moat host status`: whether the policy's rates are enforced, and on which uplinks.</summary>
    public string Shaping => containment.Shaper is { } shaper
        ? $"HTB on the uplink by trust level ({shaper.SandboxIds.Count} sandboxes shaped; rates from policy {containment.Rules.Policy.Source})"
        : containment.Rules.Policy.Rates.Count > 0
            ? "off: the policy sets rates but the agent was started without --uplink DEV=RATE, so they are not enforced"
            : "off (the policy sets no rates)";

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
