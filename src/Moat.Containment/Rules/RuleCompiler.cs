using System.Net;
using Moat.Containment.Policy;
using Moat.Containment.Trust;
using Moat.Linux.Nftables;

namespace Moat.Containment.Rules;

/// <summary>One rule of a sandbox's chain: the id that names it in refusal logs, and its expressions.</summary>
public sealed record CompiledRule(string RuleId, IReadOnlyList<NftExpression> Expressions);

/// <summary>
/// Compiles (policy, sandbox) into the rules of the sandbox's own chain (forward hook). Order, first match wins:
/// not IPv4 → drop; spoofed source → drop; the fixed deny set → drop; policy rules that name SMTP;
/// tcp/25 → drop; the client, when the policy binds its address to it → accept; authcert-opened destinations →
/// accept; policy rules (semi-trusted); the host's LAN and sandbox pool → drop; the client address the tenant gave →
/// accept; out of the sandbox's tunnel to its client (untrusted) → accept; anything else → drop. Every drop is logged to NFLOG with "moat &lt;id&gt; &lt;ruleId&gt;".
/// A trusted sandbox's chain accepts everything. Packets to the host itself never reach the forward hook: the input
/// hook sends them to <see cref="CompileHostInput"/>'s chain.
/// </summary>
public static partial class RuleCompiler
{
    public const string RuleNotIpv4 = "not-ipv4";
    public const string RuleSpoof = "spoof";
    public const string RuleHost = "host";
    public const string RuleFixed = "fixed";
    public const string RuleSmtp = "smtp";
    public const string RuleLan = "lan";
    public const string RuleClient = "client";
    public const string RuleTunnel = "tunnel";
    public const string RuleThrottle = "throttle";
    public const string RuleDefault = "default";

    private const byte NfProtoIpv4 = 2;

    /// <param name="throttleBytesPerSecond">A response's throttle: everything the sandbox sends beyond this rate is
    /// dropped first of all (whatever its trust), counted under rule id "throttle"; null: not throttled.</param>
    public static IReadOnlyList<CompiledRule> Compile(AdminPolicy policy, SandboxNetwork sandbox, ContainmentOptions options, long? throttleBytesPerSecond = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(sandbox);
        ArgumentNullException.ThrowIfNull(options);
        var rules = new List<CompiledRule>();
        if (throttleBytesPerSecond is { } throttle)
        {
            // Policing, not shaping (tc here has no police action): packets over the rate are dropped and TCP backs
            // off to it. Not logged to NFLOG, which would log every dropped packet of a bulk transfer.
            rules.Add(new CompiledRule(RuleThrottle, [new NftLimit((ulong)throttle, 1, 0, NftLimitType.Bytes, Invert: true), new NftCounter(), new NftImmediate(NftVerdict.Drop)]));
        }

        var trust = EffectiveTrust(policy, sandbox);
        if (trust == TrustLevel.Trusted)
        {
            return [.. rules, new CompiledRule("trusted", [new NftCounter(), new NftImmediate(NftVerdict.Accept)])];
        }

        void Refuse(string ruleId, params NftExpression[] match) =>
            rules.Add(new CompiledRule(ruleId, [.. match, new NftCounter(), new NftLog(options.LogGroup, RuleNames.LogPrefix(sandbox.Id, ruleId)), new NftImmediate(NftVerdict.Drop)]));
        void Accept(string ruleId, params NftExpression[] match) =>
            rules.Add(new CompiledRule(ruleId, [.. match, new NftImmediate(NftVerdict.Accept)]));

        Refuse(RuleNotIpv4, new NftMeta(NftMetaKey.NfProto), NftCmp.NotEqual([NfProtoIpv4]));
        Refuse(RuleSpoof, [.. Ipv4(), NftPayload.Ipv4Source(), NftCmp.NotEqual(NftValue.Ipv4(sandbox.Address))]);
        Refuse(RuleFixed, [.. Ipv4(), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.FixedDenySet)]);
        AddDnsRefusals(rules, sandbox, options);

        var allows = trust == TrustLevel.SemiTrusted ? policy.Allow : [];
        foreach (var allow in allows.Where(a => a.OpensSmtp))
        {
            AddAllow(rules, allow);
        }

        Refuse(RuleSmtp, [.. Ipv4(), .. L4(PolicyProtocol.Tcp), NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(AllowRule.SmtpPort))]);

        // A client address is the tenant's claim: it is accepted only after the LAN and neighbour refusals, so naming a
        // neighbour or a LAN host as "my client" opens nothing. One the administrator bound to the client
        // ('client-addresses') is the administrator's grant, like a policy rule, and may lie in the LAN.
        var client = sandbox.ClientAddress;
        var bound = client is not null && policy.Binds(sandbox.Client, client);
        if (bound)
        {
            Accept(RuleClient, [.. Ipv4(), NftPayload.Ipv4Destination(), NftCmp.Equal(NftValue.Ipv4(client!))]);
        }

        Accept("authcert", [.. Ipv4(), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.AuthAddresses(sandbox.Id))]);
        foreach (var protocol in new[] { PolicyProtocol.Tcp, PolicyProtocol.Udp })
        {
            Accept("authcert-port", [.. Ipv4(), .. L4(protocol), NftPayload.Ipv4Destination(NftRegister.R0), NftPayload.DestinationPort(NftRegister.R1), new NftLookup(RuleNames.AuthPorts(sandbox.Id), NftRegister.R0)]);
        }

        foreach (var allow in allows.Where(a => !a.OpensSmtp))
        {
            AddAllow(rules, allow);
        }

        Refuse(RuleLan, [.. Ipv4(), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.LanSet)]);
        AddNameAccept(rules, sandbox, options);
        if (client is not null && !bound)
        {
            Accept(RuleClient, [.. Ipv4(), NftPayload.Ipv4Destination(), NftCmp.Equal(NftValue.Ipv4(client))]);
        }

        if (trust == TrustLevel.Untrusted)
        {
            // The rest of the network only through the client: what routing sends into the sandbox's tunnel (which
            // exists only when the host opened one) goes to the client, who answers for it.
            Accept(RuleTunnel, new NftMeta(NftMetaKey.OutputInterfaceName), NftCmp.Equal(NftValue.InterfaceName(Tunnels.TunnelAddressing.HostInterface(sandbox.Id))));
        }

        Refuse(RuleDefault);
        return rules;
    }

    /// <summary>
    /// The input-hook rule of a non-trusted sandbox: every packet it addresses to the host itself is refused and logged
    /// (rule id "host"); null for a trusted sandbox, whose packets to the host are accepted.
    /// </summary>
    public static CompiledRule? CompileHostInput(AdminPolicy policy, SandboxNetwork sandbox, ContainmentOptions options) =>
        EffectiveTrust(policy, sandbox) == TrustLevel.Trusted
            ? null
            : new CompiledRule(RuleHost, [new NftCounter(), new NftLog(options.LogGroup, RuleNames.LogPrefix(sandbox.Id, RuleHost)), new NftImmediate(NftVerdict.Drop)]);

    /// <summary>The trust the sandbox has under <paramref name="policy"/>: its client's, or the lower one it asked for.</summary>
    public static TrustLevel EffectiveTrust(AdminPolicy policy, SandboxNetwork sandbox)
    {
        var granted = policy.TrustFor(sandbox.Client);
        return sandbox.RequestedTrust is { } asked && asked < granted ? asked : granted;
    }

    private static void AddAllow(List<CompiledRule> rules, AllowRule allow)
    {
        var ruleId = "allow:" + allow.Name;
        NftExpression[] destination = [.. Ipv4(), NftPayload.Ipv4Destination(), new NftLookup(RuleNames.Allow(allow.Name))];
        var protocols = allow.Protocols.Count > 0
            ? allow.Protocols.Cast<PolicyProtocol?>()
            : allow.Ports.Count > 0 ? [PolicyProtocol.Tcp, PolicyProtocol.Udp] : new PolicyProtocol?[] { null };
        foreach (var protocol in protocols)
        {
            var lines = allow.Ports.Count == 0 || protocol is null or PolicyProtocol.Icmp ? [Array.Empty<NftExpression>()] : allow.Ports.Select(Port).ToList();
            foreach (var ports in lines)
            {
                NftExpression[] match = [.. destination, .. protocol is { } p ? L4(p) : [], .. ports];
                if (allow.RateBytesPerSecond is { } rate)
                {
                    rules.Add(new CompiledRule(ruleId, [.. match, new NftLimit((ulong)rate, 1, 0, NftLimitType.Bytes), new NftImmediate(NftVerdict.Accept)]));
                    rules.Add(new CompiledRule(ruleId + ":over-rate", [.. match, new NftCounter(), new NftImmediate(NftVerdict.Drop)]));
                }
                else
                {
                    rules.Add(new CompiledRule(ruleId, [.. match, new NftImmediate(NftVerdict.Accept)]));
                }
            }
        }
    }

    private static NftExpression[] Port(PortRange range) => range.First == range.Last
        ? [NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(range.First))]
        : [NftPayload.DestinationPort(), new NftCmp(NftCmpOp.Gte, NftValue.Be16(range.First)), new NftCmp(NftCmpOp.Lte, NftValue.Be16(range.Last))];

    private static NftExpression[] Ipv4() => [new NftMeta(NftMetaKey.NfProto), NftCmp.Equal([NfProtoIpv4])];

    private static NftExpression[] L4(PolicyProtocol protocol) => [new NftMeta(NftMetaKey.L4Proto), NftCmp.Equal([(byte)protocol])];

    internal static IEnumerable<IPNetwork> Prefixes(AllowRule allow) => allow.Prefixes;
}
