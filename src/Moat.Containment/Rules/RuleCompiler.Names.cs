using Moat.Linux.Nftables;

namespace Moat.Containment.Rules;

/// <summary>
/// The rules of egress by name (docs/containment.md, "Egress by name"), in force when the host runs its egress
/// resolver (<see cref="ContainmentOptions.Resolver"/>): a non-trusted sandbox's DNS goes to that resolver only, and
/// the addresses the resolver answered for names the sandbox may reach are accepted after the LAN refusal.
/// </summary>
public static partial class RuleCompiler
{
    /// <summary>DNS (udp/tcp 53), DoT/DoQ (853) or DoH (443 to a known service) to anything but the host's resolver.</summary>
    public const string RuleDns = "dns";

    /// <summary>An address of a name the sandbox resolved through the host's resolver and may reach.</summary>
    public const string RuleName = "name";

    /// <summary>A query to the host's resolver, accepted by the sandbox's host-input chain.</summary>
    public const string RuleResolver = "resolver";

    private const ushort DnsPort = 53;
    private const ushort DotPort = 853;
    private const ushort HttpsPort = 443;

    private static void AddDnsRefusals(List<CompiledRule> rules, SandboxNetwork sandbox, ContainmentOptions options)
    {
        if (options.Resolver is null)
        {
            return;
        }

        foreach (var protocol in new[] { Policy.PolicyProtocol.Udp, Policy.PolicyProtocol.Tcp })
        {
            foreach (var port in new[] { DnsPort, DotPort })
            {
                rules.Add(Refusal(RuleDns, sandbox, options, [.. Ipv4(), .. L4(protocol), NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(port))]));
            }

            // DoH rides HTTPS (and HTTP/3 over UDP) to the known services' addresses.
            rules.Add(Refusal(RuleDns, sandbox, options, [.. Ipv4(), .. L4(protocol), NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(HttpsPort)), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.DohSet)]));
        }
    }

    private static void AddNameAccept(List<CompiledRule> rules, SandboxNetwork sandbox, ContainmentOptions options)
    {
        if (options.Resolver is not null)
        {
            rules.Add(new CompiledRule(RuleName, [.. Ipv4(), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.NameAddresses(sandbox.Id)), new NftImmediate(NftVerdict.Accept)]));
        }
    }

    /// <summary>
    /// The host-input rules that let a non-trusted sandbox ask the host's resolver (udp and tcp to its address and
    /// port, from the sandbox's own address only); empty without a resolver. They come before the "host" refusal.
    /// </summary>
    public static IReadOnlyList<CompiledRule> CompileResolverInput(SandboxNetwork sandbox, ContainmentOptions options)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Resolver is not { } resolver)
        {
            return [];
        }

        return [.. new[] { Policy.PolicyProtocol.Udp, Policy.PolicyProtocol.Tcp }.Select(protocol => new CompiledRule(RuleResolver,
        [
            .. Ipv4(), NftPayload.Ipv4Source(), NftCmp.Equal(NftValue.Ipv4(sandbox.Address)),
            NftPayload.Ipv4Destination(), NftCmp.Equal(NftValue.Ipv4(resolver)),
            .. L4(protocol), NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(options.ResolverPort)),
            new NftImmediate(NftVerdict.Accept),
        ]))];
    }

    private static CompiledRule Refusal(string ruleId, SandboxNetwork sandbox, ContainmentOptions options, NftExpression[] match) =>
        new(ruleId, [.. match, new NftCounter(), new NftLog(options.LogGroup, RuleNames.LogPrefix(sandbox.Id, ruleId)), new NftImmediate(NftVerdict.Drop)]);
}
