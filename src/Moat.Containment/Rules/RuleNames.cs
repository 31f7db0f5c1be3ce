namespace Moat.Containment.Rules;

/// <summary>Names of the objects in the containment table; per-sandbox ones carry the sandbox id.</summary>
public static class RuleNames
{
    public const string ForwardChain = "forward";
    public const string InputChain = "input";
    public const string SandboxMap = "sandboxes";
    public const string HostInputMap = "host_input";
    public const string HostChainPrefix = "hin_";
    public const string FixedDenySet = "fixed_deny";
    public const string LanSet = "lan";
    public const string SandboxChainPrefix = "sb_";

    public static string Chain(string id) => SandboxChainPrefix + id;

    /// <summary>The one-rule chain that refuses (and logs) a non-trusted sandbox's packets to the host itself.</summary>
    public static string HostChain(string id) => HostChainPrefix + id;

    /// <summary>Addresses opened (all ports) by authorization certificates.</summary>
    public static string AuthAddresses(string id) => "ca_" + id;

    /// <summary>(address, port) pairs opened by authorization certificates that name a port.</summary>
    public static string AuthPorts(string id) => "cp_" + id;

    /// <summary>Addresses the egress resolver answered for names the sandbox may reach, each with its TTL as timeout.</summary>
    public static string NameAddresses(string id) => "dn_" + id;

    /// <summary>Addresses of public DNS-over-HTTPS services (refused on 443 when the host runs the egress resolver).</summary>
    public const string DohSet = "doh";

    public static string Allow(string ruleName) => "allow_" + ruleName;

    public static string? IdOfChain(string chain) =>
        chain.StartsWith(SandboxChainPrefix, StringComparison.Ordinal) ? chain[SandboxChainPrefix.Length..] : null;

    /// <summary>The NFLOG prefix of a refusal: "moat &lt;sandboxId&gt; &lt;ruleId&gt;".</summary>
    public static string LogPrefix(string id, string ruleId) => $"moat {id} {ruleId}";
}
