using Moat.Containment;
using Moat.Containment.Policy;
using Moat.Fuzz.Engine;

namespace Moat.Fuzz.Targets;

/// <summary>The administrator's policy YAML (clients, allow rules, rates).</summary>
internal static class PolicyTargets
{
    private const string Full = """
        default-trust: untrusted
        clients:
          alice: trusted
          sam: semi-trusted
          "SHA256:abcdef": untrusted
        allow:
          - name: skyserver-db
            prefixes: [198.18.3.0/24, 198.18.9.9]
            protocols: [tcp, icmp]
            ports: [5432, 8000-8100]
            rate: 10mbit
          - prefixes: 198.19.0.0/16
            protocols: udp
            ports: 53
        rates:
          untrusted:
            egress: 10mbit
            ingress: 10mbit
            rest: 1mbit
            flows:
              - { name: data, remote: 198.18.3.0/24, protocol: tcp, port: 5432, rate: 8mbit }
          semi-trusted: { egress: 100mbit }
        """;

    public static FuzzTarget Yaml() => new()
    {
        Name = "policy",
        Parser = "PolicyParser.Parse",
        MaxLength = 16 * 1024,
        Seeds = () => [SeedFiles.Utf8(Full), SeedFiles.Utf8("default-trust: semi-trusted\n"), SeedFiles.Utf8("clients: {a: trusted}\nallow: []\n")],
        Dictionary = SeedFiles.Tokens(
            "[", "]", "{", "}", ":", "- ", "\n  ", "&a ", "*a", "!!str ", "!!map", "? ", "|", ">", "'", "\"", "#", "---", "...", "%YAML 1.1\n",
            "0.0.0.0/0", "198.18.0.0/33", "255.255.255.255/32", "65536", "0-65535", "99999999999999999999gbit", "0bit", "-1",
            "egress: ", "flows: ", "prefixes: ", "ports: ", "rate: ", "trusted", "semi-trusted", "untrusted"),
        Expected = e => e is ContainmentException,
        Run = input => _ = PolicyParser.Parse(System.Text.Encoding.UTF8.GetString(input), "fuzz.yaml"),
    };
}
