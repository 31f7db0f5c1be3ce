using System.Net;
using Moat.Containment.Policy;
using Moat.Containment.Trust;

namespace Moat.Containment.Tests.Policy;

public sealed class PolicyParserTests
{
    private const string Good = """
        default-trust: untrusted
        clients:
          carol: trusted
          sam: semi-trusted
        allow:
          - name: db
            prefixes: [198.18.2.0/24, 198.18.9.9]
            protocols: [tcp, icmp]
            ports: [5432, 8000-8100]
            rate: 8mbit
          - name: relay
            prefixes: 198.19.60.25/32
            ports: [25]
        """;

    [Fact]
    public void Parse_FullPolicy_ReadsEveryField()
    {
        var policy = PolicyParser.Parse(Good, "p.yaml");

        Assert.Equal(TrustLevel.Untrusted, policy.DefaultTrust);
        Assert.Equal(TrustLevel.Trusted, policy.TrustFor("carol"));
        Assert.Equal(TrustLevel.SemiTrusted, policy.TrustFor("sam"));
        Assert.Equal(TrustLevel.Untrusted, policy.TrustFor("mallory"));
        var db = policy.Allow[0];
        Assert.Equal("db", db.Name);
        Assert.Equal([IPNetwork.Parse("198.18.2.0/24"), IPNetwork.Parse("198.18.9.9/32")], db.Prefixes);
        Assert.Equal([PolicyProtocol.Tcp, PolicyProtocol.Icmp], db.Protocols);
        Assert.Equal([new PortRange(5432, 5432), new PortRange(8000, 8100)], db.Ports);
        Assert.Equal(1_000_000, db.RateBytesPerSecond);
        Assert.False(db.OpensSmtp);
        Assert.True(policy.Allow[1].OpensSmtp);
    }

    [Fact]
    public void Allows_FollowsPortsProtocolsAndSmtpRules()
    {
        var policy = PolicyParser.Parse(Good, "p.yaml");
        var db = policy.Allow[0];
        var relay = policy.Allow[1];
        var inDb = IPAddress.Parse("198.18.2.77");

        Assert.True(db.Allows(inDb, PolicyProtocol.Tcp, 5432));
        Assert.True(db.Allows(inDb, PolicyProtocol.Tcp, 8050));
        Assert.False(db.Allows(inDb, PolicyProtocol.Tcp, 80));
        Assert.False(db.Allows(inDb, PolicyProtocol.Udp, 5432));
        Assert.True(db.Allows(inDb, PolicyProtocol.Icmp, 0));
        Assert.False(db.Allows(IPAddress.Parse("198.18.3.1"), PolicyProtocol.Tcp, 5432));
        Assert.True(relay.Allows(IPAddress.Parse("198.19.60.25"), PolicyProtocol.Tcp, 25));
        Assert.True(relay.Allows(IPAddress.Parse("198.19.60.25"), PolicyProtocol.Udp, 25));
        Assert.False(relay.Allows(IPAddress.Parse("198.19.60.25"), PolicyProtocol.Icmp, 0));
        var open = new AllowRule("any", [IPNetwork.Parse("198.19.0.0/16")], [], []);
        Assert.False(open.Allows(IPAddress.Parse("198.19.1.1"), PolicyProtocol.Tcp, 25));
        Assert.True(open.Allows(IPAddress.Parse("198.19.1.1"), PolicyProtocol.Tcp, 26));
        Assert.True(open.Allows(IPAddress.Parse("198.19.1.1"), PolicyProtocol.Icmp, 0));
    }

    [Fact]
    public void Parse_EmptyFile_IsTheBuiltInPolicy()
    {
        var policy = PolicyParser.Parse("", "empty.yaml");
        Assert.Equal(TrustLevel.Untrusted, policy.TrustFor("anyone"));
        Assert.Empty(policy.Allow);
    }

    [Theory]
    [InlineData("default-trust: godlike\n", 1, "default-trust", "is not a trust level")]
    [InlineData("clients:\n  bob: root\n", 2, "clients.bob", "is not a trust level")]
    [InlineData("allow:\n  - name: a\n    prefixes: [198.18.2.1/24]\n", 3, "allow[0].prefixes", "host bits zero")]
    [InlineData("allow:\n  - name: a\n    prefixes: [not-an-ip]\n", 3, "allow[0].prefixes", "is not an IPv4 prefix")]
    [InlineData("allow:\n  - prefixes: [198.18.2.0/24]\n    ports: [70000]\n", 3, "allow[0].ports", "1 to 65535")]
    [InlineData("allow:\n  - prefixes: [198.18.2.0/24]\n    protocols: [gre]\n", 3, "allow[0].protocols", "use tcp, udp or icmp")]
    [InlineData("allow:\n  - prefixes: [198.18.2.0/24]\n    rate: fast\n", 3, "allow[0].rate", "is not a rate")]
    [InlineData("allow:\n  - name: a\n    ports: [80]\n", 2, "allow[0].prefixes", "is missing")]
    [InlineData("allow:\n  - prefixes: [198.18.2.0/24]\n    protocols: [icmp]\n    ports: [80]\n", 2, "allow[0].ports", "tcp and udp only")]
    [InlineData("allowed:\n  - prefixes: [198.18.2.0/24]\n", 1, "allowed", "unknown key")]
    [InlineData("allow:\n  - prefixes: [198.18.2.0/24]\n    prots: [tcp]\n", 3, "allow[0].prots", "unknown key")]
    [InlineData("allow:\n  - name: a\n    prefixes: [198.18.2.0/24]\n  - name: a\n    prefixes: [198.18.3.0/24]\n", 4, "allow[1].name", "used by an earlier rule")]
    [InlineData("allow: [\n", 2, "(syntax)", "not valid YAML")]
    [InlineData("rates:\n  untrusted: { rest: 1mbit }\n", 2, "rates.untrusted.egress", "is missing")]
    [InlineData("rates:\n  nobody: { egress: 1mbit }\n", 2, "rates", "is not a trust level")]
    [InlineData("rates:\n  untrusted: { egress: 1 zillion }\n", 2, "rates.untrusted.egress", "not valid")]
    [InlineData("rates:\n  untrusted: { egress: 10mbit, burst: 1 }\n", 2, "rates.untrusted.burst", "unknown key")]
    [InlineData("rates:\n  untrusted:\n    egress: 10mbit\n    flows:\n      - { name: data, remote: 198.18.3.1/24 }\n", 5, "rates.untrusted.flows[0].remote", "host bits zero")]
    [InlineData("rates:\n  untrusted:\n    egress: 10mbit\n    flows:\n      - { name: data, remote: 198.18.3.0/24, port: 80 }\n", 3, "rates.untrusted", "without a protocol")]
    [InlineData("rates:\n  untrusted:\n    egress: 1mbit\n    flows:\n      - { name: data, remote: 198.18.3.0/24, rate: 5mbit }\n", 3, "rates.untrusted", "more than the sandbox's egress cap")]
    public void Parse_BadField_OneSentenceNamingFileLineAndField(string yaml, int line, string field, string problem)
    {
        var error = Assert.Throws<PolicyException>(() => PolicyParser.Parse(yaml, "/etc/moat/policy.yaml"));

        Assert.Equal(line, error.Line);
        Assert.Equal(field, error.Field);
        Assert.StartsWith($"/etc/moat/policy.yaml line {line}, field '{field}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Rates_ReadsEachTrustLevelsCapsAndFlowClasses()
    {
        var policy = PolicyParser.Parse("""
            rates:
              untrusted:
                egress: 10mbit
                ingress: 20mbit
                rest: 1mbit
                flows:
                  - { name: data, remote: 198.18.3.0/24, protocol: tcp, port: 5432, rate: 8mbit }
                  - { name: any-v6, remote: "2001:db8::/32" }
              semi-trusted: { egress: 1gbit }
            """, "p.yaml");

        var untrusted = policy.RatesFor(TrustLevel.Untrusted)!;
        Assert.Equal(10_000_000UL, untrusted.Egress.BitsPerSecond);
        Assert.Equal(20_000_000UL, untrusted.Ingress!.Value.BitsPerSecond);
        Assert.Equal(1_000_000UL, untrusted.Rest!.Value.BitsPerSecond);
        Assert.Equal(2, untrusted.Flows.Count);
        var data = untrusted.Flows[0];
        Assert.Equal(("data", IPNetwork.Parse("198.18.3.0/24"), Moat.Containment.Shaping.FlowProtocol.Tcp, (ushort?)5432, 8_000_000UL),
            (data.Name, data.Remote, data.Protocol, data.Port, data.Rate!.Value.BitsPerSecond));
        Assert.Null(untrusted.Flows[1].Rate);
        Assert.Equal(1_000_000_000UL, policy.RatesFor(TrustLevel.SemiTrusted)!.Egress.BitsPerSecond);
        Assert.Null(policy.RatesFor(TrustLevel.Trusted));
    }

    [Fact]
    public void TrustAssignment_ClientMayLowerButNotRaiseItsTrust()
    {
        var policy = PolicyParser.Parse(Good, "p.yaml");

        Assert.Equal(TrustLevel.SemiTrusted, TrustAssignment.Resolve(policy, "sam", null));
        Assert.Equal(TrustLevel.Untrusted, TrustAssignment.Resolve(policy, "sam", TrustLevel.Untrusted));
        var error = Assert.Throws<ContainmentInputException>(() => TrustAssignment.Resolve(policy, "sam", TrustLevel.Trusted));
        Assert.Contains("'sam' asked for trust 'trusted' but this host's policy gives it 'semi-trusted'", error.Message, StringComparison.Ordinal);
    }
}
