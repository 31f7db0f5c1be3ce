using System.Net;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Moat.Containment.AuthCerts;
using Moat.Containment.Policy;
using Moat.Containment.Quarantine;
using Moat.Containment.Rules;
using Moat.Containment.Shaping;
using Moat.Containment.Trust;
using Moat.Containment.Tunnels;
using Moat.Linux.Namespaces;
using Moat.Pki.AuthCerts;

namespace Moat.Containment.Hosting;

/// <summary>What the host agent tells containment about one sandbox when it gets its identity (create or claim).</summary>
public sealed record SandboxIdentity(string Id, string HostInterface, IPAddress Address, string Client, IPAddress? ClientAddress, TrustLevel? RequestedTrust = null);

/// <summary>
/// Network containment as the host agent uses it: one object for the agent's lifetime that owns the rules, the
/// policy file (with live reload), authcert openings, quarantine and, when the host shares an uplink, the rate limits
/// of each trust level. The agent calls <see cref="ReconcileAsync"/> at start with every live sandbox from its store,
/// <see cref="AdmitAsync"/> when a sandbox gets its identity and <see cref="ForgetAsync"/> when it is destroyed.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class SandboxContainment : IDisposable
{
    private readonly ContainmentRules _rules;
    private readonly PolicyStore _policy;
    private readonly AuthCertVerifier? _verifier;
    private readonly Freezer _freezer;
    private readonly SandboxShaper? _shaper;
    private readonly TunnelManager? _tunnels;
    private readonly ILogger? _logger;
    private AuthCertRevocation? _revocation;

    private SandboxContainment(ContainmentRules rules, PolicyStore policy, AuthCertVerifier? verifier, Freezer freezer, SandboxShaper? shaper, TunnelManager? tunnels, ILogger? logger)
    {
        _rules = rules;
        _policy = policy;
        _verifier = verifier;
        _freezer = freezer;
        _shaper = shaper;
        _tunnels = tunnels;
        _logger = logger;
        // A reloaded policy may change rates and trust: every sandbox is shaped and tunnelled again to the new ones.
        _policy.Reloaded += policy => _ = ReapplyAllAsync();
    }

    /// <param name="policyPath">The administrator's policy file (null or missing: everyone untrusted).</param>
    /// <param name="ns">The host's network namespace (null: the agent's own).</param>
    /// <param name="verifier">Verifies authcerts; null refuses every `sandbox allow`.</param>
    /// <param name="shaper">Shapes sandboxes to their trust level's rates; null: the policy's rates are not enforced.</param>
    /// <param name="tunnels">Opens the VXLAN tunnel of each untrusted sandbox whose client gave its address; null: no
    /// tunnels (an untrusted sandbox reaches its client and authcert-opened nodes only).</param>
    /// <param name="revocation">Where CRLs are read (live) and openings kept, so that a revoked authcert's opening closes;
    /// its store must be the one <paramref name="verifier"/> checks. Null: openings end at notAfter only.</param>
    public static SandboxContainment Open(
        ContainmentOptions options,
        string? policyPath,
        NetworkNamespace? ns = null,
        AuthCertVerifier? verifier = null,
        Freezer? freezer = null,
        TimeProvider? time = null,
        ILoggerFactory? logs = null,
        SandboxShaper? shaper = null,
        TunnelManager? tunnels = null,
        AuthCertRevocationOptions? revocation = null)
    {
        var policy = PolicyStore.Load(policyPath);
        var rules = ContainmentRules.Open(options, policy, ns, time, logs?.CreateLogger<ContainmentRules>());
        try
        {
            return new SandboxContainment(rules, new PolicyStore(policyPath, rules, logs?.CreateLogger<PolicyStore>()), verifier, freezer ?? new Freezer(), shaper, tunnels, logs?.CreateLogger<SandboxContainment>())
            {
                _revocation = revocation is null ? null : new AuthCertRevocation(revocation, rules, logs?.CreateLogger<AuthCertRevocation>()),
            };
        }
        catch
        {
            rules.Dispose();
            throw;
        }
    }

    /// <summary>Revocation of authcert openings (CRLs read live), or null when this host reads no CRLs.</summary>
    public AuthCertRevocation? Revocation => _revocation;

    public ContainmentRules Rules => _rules;

    /// <summary>The shaper enforcing the policy's rates, or null when this host shapes nothing.</summary>
    public SandboxShaper? Shaper => _shaper;

    /// <summary>The trust a new sandbox of <paramref name="client"/> gets; refuses a request for more than the policy gives.</summary>
    public TrustLevel TrustFor(string client, TrustLevel? requested) => TrustAssignment.Resolve(_rules.Policy, client, requested);

    /// <summary>Why <paramref name="address"/> may not be <paramref name="client"/>'s address on this host (one
    /// sentence), or null when it may; see <see cref="ClientAddressCheck"/>.</summary>
    public string? ClientAddressRefusal(string client, IPAddress address) =>
        ClientAddressCheck.Refusal(address, client, _rules.Policy, _rules.Options, sandboxPool: null);

    /// <summary>Whether the policy binds <paramref name="address"/> to <paramref name="client"/> ('client-addresses').</summary>
    public bool Binds(string client, IPAddress address) => _rules.Policy.Binds(client, address);

    /// <summary>At agent start: rules for exactly these sandboxes, orphan chains removed, then policy file watched.</summary>
    public void Reconcile(IEnumerable<SandboxIdentity> live, IEnumerable<string>? quarantined = null)
    {
        _rules.Reconcile(live.Select(ToNetwork), quarantined);
        foreach (var sandbox in _rules.Sandboxes)
        {
            RegisterName(sandbox);
        }

        _policy.Watch();
        if (_revocation is not null && _verifier is not null)
        {
            // The openings kept from before (an agent restart) are checked against the CRLs now, then live.
            _revocation.Start(_verifier);
        }
    }

    /// <summary>A sandbox got its identity: its rules go in force before it can send anything. A client address
    /// <see cref="ClientAddressRefusal"/> refuses is refused here too (<see cref="ContainmentInputException"/>).</summary>
    public TrustLevel Admit(SandboxIdentity sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        var trust = TrustFor(sandbox.Client, sandbox.RequestedTrust);
        if (sandbox.ClientAddress is { } address && ClientAddressRefusal(sandbox.Client, address) is { } refusal)
        {
            throw new ContainmentInputException(refusal);
        }

        _rules.Apply(ToNetwork(sandbox));
        RegisterName(ToNetwork(sandbox));
        return trust;
    }

    /// <summary>A sandbox is being destroyed: its chain, sets and map elements go.</summary>
    public void Forget(string id)
    {
        ForgetName(id);
        _rules.Remove(id);
    }

    /// <summary>Rules as <see cref="Admit"/>, then the rates of its trust level (or none) and, for an untrusted sandbox
    /// whose client gave its address, the tunnel to it, before it can send anything.</summary>
    /// <exception cref="ShapingException">The kernel refused the rates: the caller should not hand the sandbox out.</exception>
    /// <exception cref="TunnelException">The kernel refused the tunnel: likewise.</exception>
    public async Task<TrustLevel> AdmitAsync(SandboxIdentity sandbox, CancellationToken cancellationToken = default)
    {
        var trust = Admit(sandbox);
        await ShapeAsync(sandbox.Id, sandbox.HostInterface, trust, cancellationToken).ConfigureAwait(false);
        await TunnelAsync(ToNetwork(sandbox), trust, cancellationToken).ConfigureAwait(false);
        return trust;
    }

    /// <summary>Rules, rates and tunnel of a destroyed sandbox go.</summary>
    public async Task ForgetAsync(string id, CancellationToken cancellationToken = default)
    {
        Forget(id);
        _revocation?.Forget(id);
        if (_shaper is not null)
        {
            await _shaper.RemoveAsync(id, cancellationToken).ConfigureAwait(false);
        }

        if (_tunnels is not null)
        {
            await _tunnels.CloseAsync(id, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>At agent start: rules as <see cref="Reconcile"/>, then the kernel's shaping made to match (a sandbox
    /// whose veth is not back yet is reported and shaped when it is re-admitted).</summary>
    public async Task<ShapingReconcileResult?> ReconcileAsync(IEnumerable<SandboxIdentity> live, IEnumerable<string>? quarantined = null, CancellationToken cancellationToken = default)
    {
        var list = live.ToList();
        Reconcile(list, quarantined);
        await ReconcileTunnelsAsync([.. list.Select(ToNetwork)], cancellationToken).ConfigureAwait(false);
        if (_shaper is null)
        {
            return null;
        }

        var policy = _rules.Policy;
        var shaped = list
            .Select(s => (s, rates: policy.RatesFor(TrustFor(s.Client, s.RequestedTrust))))
            .Where(x => x.rates is not null)
            .Select(x => new ShapedSandbox(x.s.Id, x.s.HostInterface, x.rates!));
        return await _shaper.ReconcileAsync(shaped, cancellationToken).ConfigureAwait(false);
    }

    private async Task ShapeAsync(string id, string hostInterface, TrustLevel trust, CancellationToken cancellationToken)
    {
        if (_shaper is null)
        {
            return;
        }

        if (_rules.Policy.RatesFor(trust) is { } rates)
        {
            await _shaper.ApplyAsync(id, hostInterface, rates, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _shaper.RemoveAsync(id, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReapplyAllAsync()
    {
        foreach (var s in _rules.Sandboxes)
        {
            try
            {
                var trust = TrustFor(s.Client, s.RequestedTrust);
                await ShapeAsync(s.Id, s.HostInterface, trust, CancellationToken.None).ConfigureAwait(false);
                await TunnelAsync(s, trust, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ContainmentException or ShapingException)
            {
                // A sandbox whose trust the new policy refuses, or rates or a tunnel the kernel refuses: it keeps what it had.
                if (_logger is not null)
                {
                    LogReshapeFailed(_logger, s.Id, e.Message);
                }
            }
        }
    }

    /// <summary>Cuts the sandbox off at once; with <paramref name="freeze"/> its processes are frozen too.</summary>
    public async Task QuarantineAsync(string id, bool freeze, CancellationToken cancellationToken = default)
    {
        _rules.Quarantine(id);
        if (freeze)
        {
            await _freezer.FreezeAsync(id, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Ends a quarantine: processes thawed if frozen, rules back in force.</summary>
    public async Task ReleaseAsync(string id, CancellationToken cancellationToken = default)
    {
        if (_freezer.Exists(id) && _freezer.State(id) != "THAWED")
        {
            await _freezer.ThawAsync(id, cancellationToken).ConfigureAwait(false);
        }

        _rules.Release(id);
    }

    /// <summary>`sandbox allow --authcert --key`: verifies the PEM and the proof that the presenter holds the authcert's
    /// user key, and opens its path until notAfter, or says why not. A
    /// tunnelled sandbox reaches the opened node directly, not through its client.</summary>
    public async Task<AuthCertVerdict> AllowAsync(string id, string pem, PossessionProof? proof, CancellationToken cancellationToken = default)
    {
        if (_verifier is null)
        {
            throw new ContainmentInputException("This host has no authcert root configured, so it opens no path by certificate; start the agent with a root certificate.");
        }

        var verdict = new AuthCertOpener(_verifier, _rules).Open(id, pem, proof);
        if (verdict.IsOpen && verdict.Address is { } opened)
        {
            // Kept with its certificate, so that a CRL revoking it later closes the opening.
            _revocation?.Record(id, opened, pem);
        }
        if (verdict.IsOpen && verdict.Address is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetwork } address && _tunnels is not null)
        {
            await _tunnels.AddDirectAsync(id, new IPNetwork(address, 32), cancellationToken).ConfigureAwait(false);
        }

        return verdict;
    }

    /// <summary>`policy reload`: the file is re-read and put in force, or refused with the old policy kept.</summary>
    public AdminPolicy ReloadPolicy() => _policy.Reload();

    public void Dispose()
    {
        _resolver?.Dispose();
        _revocation?.Dispose();
        _policy.Dispose();
        _rules.Dispose();
        _shaper?.Dispose();
        _tunnels?.Dispose();
        _tunnelGate.Dispose();
    }

    [LoggerMessage(EventId = 3400, Level = LogLevel.Warning, Message = "Sandbox {Id} keeps its old rates or tunnel after the policy reload: {Reason}")]
    private static partial void LogReshapeFailed(ILogger logger, string id, string reason);

    private static SandboxNetwork ToNetwork(SandboxIdentity s) =>
        new(s.Id, s.HostInterface, s.Address, s.Client, s.ClientAddress, s.RequestedTrust);
}
