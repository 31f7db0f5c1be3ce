using Moat.Containment.Names;
using Moat.Containment.Resolver;
using Moat.Containment.Rules;
using Moat.Containment.Trust;

namespace Moat.Containment.Hosting;

/// <summary>The host's egress resolver, kept in step with the sandboxes this containment admits (docs/containment.md, "Egress by name").</summary>
public sealed partial class SandboxContainment
{
    private EgressResolver? _resolver;

    /// <summary>The egress resolver, when the host runs one (`--dns-upstream`).</summary>
    public EgressResolver? Resolver => _resolver;

    /// <summary>
    /// Hands the resolver every sandbox admitted from now on (and at reconcile and policy reload); the containment
    /// options must name the resolver's address (<see cref="ContainmentOptions.Resolver"/>) so the rules send DNS to it.
    /// </summary>
    public void AttachResolver(EgressResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        if (_rules.Options.Resolver is null)
        {
            throw new ContainmentException("The egress resolver needs ContainmentOptions.Resolver set, or no rule would send DNS to it.");
        }

        _resolver = resolver;
        foreach (var sandbox in _rules.Sandboxes)
        {
            RegisterName(sandbox);
        }

        _policy.Reloaded += _ =>
        {
            foreach (var sandbox in _rules.Sandboxes)
            {
                RegisterName(sandbox);
            }
        };
    }

    /// <summary>`moat sandbox egress`: replaces the sandbox's own allow and deny lists, live; returns the lists now in force.</summary>
    /// <exception cref="ContainmentInputException">No resolver on this host, or the sandbox is not running.</exception>
    public EgressNames SetSandboxNames(string id, EgressNames own)
    {
        var resolver = _resolver ?? throw new ContainmentInputException("This host runs no egress resolver, so names cannot be allowed or denied; start the agent with --dns-upstream ADDR.");
        return resolver.SetSandboxNames(id, own);
    }

    private void RegisterName(SandboxNetwork sandbox)
    {
        if (_resolver is null)
        {
            return;
        }

        var trust = RuleCompiler.EffectiveTrust(_rules.Policy, sandbox);
        _resolver.Register(new EgressSandbox(sandbox.Id, sandbox.Address, trust == TrustLevel.Trusted, _rules.Policy.NamesFor(sandbox.Client, trust), sandbox.HostInterface));
    }

    private void ForgetName(string id) => _resolver?.Unregister(id);
}
