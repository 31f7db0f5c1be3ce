using System.Net;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Moat.Containment.AuthCerts;
using Moat.Containment.Policy;
using Moat.Containment.Quarantine;
using Moat.Containment.Rules;
using Moat.Containment.Trust;
using Moat.Linux.Namespaces;
using Moat.Pki.AuthCerts;

namespace Moat.Containment.Hosting;

/// <summary>What the host agent tells containment about one sandbox when it gets its identity (create or claim).</summary>
public sealed record SandboxIdentity(string Id, string HostInterface, IPAddress Address, string Client, IPAddress? ClientAddress, TrustLevel? RequestedTrust = null);

/// <summary>
/// Network containment as the host agent uses it: one object for the agent's lifetime that owns the rules, the
/// policy file (with live reload), authcert openings and quarantine. The agent calls <see cref="Reconcile"/> at start
/// with every live sandbox from its store, <see cref="Admit"/> when a sandbox gets its identity and
/// <see cref="Forget"/> when it is destroyed.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class SandboxContainment : IDisposable
{
    private readonly ContainmentRules _rules;
    private readonly PolicyStore _policy;
    private readonly AuthCertVerifier? _verifier;
    private readonly Freezer _freezer;

    private SandboxContainment(ContainmentRules rules, PolicyStore policy, AuthCertVerifier? verifier, Freezer freezer)
    {
        _rules = rules;
        _policy = policy;
        _verifier = verifier;
        _freezer = freezer;
    }

    /// <param name="policyPath">The administrator's policy file (null or missing: everyone untrusted).</param>
    /// <param name="ns">The host's network namespace (null: the agent's own).</param>
    /// <param name="verifier">Verifies authcerts; null refuses every `sandbox allow`.</param>
    public static SandboxContainment Open(
        ContainmentOptions options,
        string? policyPath,
        NetworkNamespace? ns = null,
        AuthCertVerifier? verifier = null,
        Freezer? freezer = null,
        TimeProvider? time = null,
        ILoggerFactory? logs = null)
    {
        var policy = PolicyStore.Load(policyPath);
        var rules = ContainmentRules.Open(options, policy, ns, time, logs?.CreateLogger<ContainmentRules>());
        return new SandboxContainment(rules, new PolicyStore(policyPath, rules, logs?.CreateLogger<PolicyStore>()), verifier, freezer ?? new Freezer());
    }

    public ContainmentRules Rules => _rules;

    /// <summary>The trust a new sandbox of <paramref name="client"/> gets; refuses a request for more than the policy gives.</summary>
    public TrustLevel TrustFor(string client, TrustLevel? requested) => TrustAssignment.Resolve(_rules.Policy, client, requested);

    /// <summary>At agent start: rules for exactly these sandboxes, orphan chains removed, then policy file watched.</summary>
    public void Reconcile(IEnumerable<SandboxIdentity> live, IEnumerable<string>? quarantined = null)
    {
        _rules.Reconcile(live.Select(ToNetwork), quarantined);
        _policy.Watch();
    }

    /// <summary>A sandbox got its identity: its rules go in force before it can send anything.</summary>
    public TrustLevel Admit(SandboxIdentity sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        var trust = TrustFor(sandbox.Client, sandbox.RequestedTrust);
        _rules.Apply(ToNetwork(sandbox));
        return trust;
    }

    /// <summary>A sandbox is being destroyed: its chain, sets and map elements go.</summary>
    public void Forget(string id) => _rules.Remove(id);

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

    /// <summary>`sandbox allow --authcert`: verifies the PEM and opens its path until notAfter, or says why not.</summary>
    public AuthCertVerdict Allow(string id, string pem, byte[]? clientPublicKey = null)
    {
        if (_verifier is null)
        {
            throw new ContainmentInputException("This host has no authcert root configured, so it opens no path by certificate; start the agent with a root certificate.");
        }

        return new AuthCertOpener(_verifier, _rules).Open(id, pem, clientPublicKey);
    }

    /// <summary>`policy reload`: the file is re-read and put in force, or refused with the old policy kept.</summary>
    public AdminPolicy ReloadPolicy() => _policy.Reload();

    public void Dispose()
    {
        _policy.Dispose();
        _rules.Dispose();
    }

    private static SandboxNetwork ToNetwork(SandboxIdentity s) =>
        new(s.Id, s.HostInterface, s.Address, s.Client, s.ClientAddress, s.RequestedTrust);
}
