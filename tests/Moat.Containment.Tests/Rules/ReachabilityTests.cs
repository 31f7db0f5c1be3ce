using System.Net;
using System.Text;
using Moat.Containment.Policy;
using Moat.Containment.Rules;
using Moat.Containment.Trust;
using Moat.Linux.Namespaces;
using Xunit.Abstractions;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// The full reachability truth table against the real kernel: trust level × destination class × TCP/UDP/ICMP, each
/// cell's expectation computed from the policy text by the oracle below (the WASCo rules as docs/containment.md
/// states them), never from the compiled rules.
/// </summary>
[Trait("Category", "Integration")]
[Collection("containment-world")]
public sealed class ReachabilityTests(ITestOutputHelper output)
{
    public enum Proto
    {
        Tcp,
        Udp,
        Icmp,
    }

    private static readonly (Proto Proto, int Port)[] Probes =
        [(Proto.Tcp, 80), (Proto.Tcp, 25), (Proto.Tcp, 5432), (Proto.Tcp, 9100), (Proto.Udp, 53), (Proto.Udp, 5000), (Proto.Icmp, 0)];

    [Fact]
    public async Task TruthTable_EveryCellMatchesThePolicy()
    {
        using var world = new ContainmentWorld();
        var untrusted = world.AddSandbox("mallory");
        var semi = world.AddSandbox("sam");
        var trusted = world.AddSandbox("carol");
        var neighbour = world.AddSandbox("carol");
        world.Rules.Reconcile([untrusted.Sandbox, semi.Sandbox, trusted.Sandbox, neighbour.Sandbox]);

        var destinations = new (string Class, IPAddress Address)[]
        {
            ("client", ContainmentWorld.Client), ("lan", ContainmentWorld.LanHost), ("datasource", ContainmentWorld.DataSource),
            ("dns", ContainmentWorld.Dns), ("internet", ContainmentWorld.Internet), ("victim", ContainmentWorld.Victim),
            ("smtp-relay", ContainmentWorld.SmtpRelay), ("host", ContainmentWorld.HostUplink), ("host-gateway", ContainmentWorld.Gateway),
            ("neighbour", neighbour.Sandbox.Address),
        };
        var cells = new List<(TrustLevel Trust, string Class, Proto Proto, int Port, bool Expected, Task<bool> Actual)>();
        foreach (var (trust, sandbox) in new[] { (TrustLevel.Untrusted, untrusted), (TrustLevel.SemiTrusted, semi), (TrustLevel.Trusted, trusted) })
        {
            Assert.Equal(trust, world.PolicyValue.TrustFor(sandbox.Sandbox.Client));
            foreach (var (cls, address) in destinations)
            {
                foreach (var (proto, port) in Probes)
                {
                    var expected = Oracle.Allows(world.PolicyValue, world.Options, trust, sandbox.Sandbox.ClientAddress!, address, proto, port);
                    Task<bool> actual = proto switch
                    {
                        Proto.Tcp => Probe.TcpAsync(sandbox.Namespace, address, port),
                        Proto.Udp => Probe.UdpAsync(sandbox.Namespace, address, port),
                        _ => Probe.IcmpAsync(sandbox.NamespaceName, address),
                    };
                    cells.Add((trust, cls, proto, port, expected, actual));
                }
            }
        }

        var results = await Task.WhenAll(cells.Select(c => c.Actual));
        var table = new StringBuilder();
        var wrong = new List<string>();
        for (var i = 0; i < cells.Count; i++)
        {
            var c = cells[i];
            var line = $"{c.Trust,-12} {c.Class,-13} {c.Proto,-4} {c.Port,5}  expected {(c.Expected ? "open" : "shut"),-4}  got {(results[i] ? "open" : "shut")}";
            table.AppendLine(line);
            if (c.Expected != results[i])
            {
                wrong.Add(line);
            }
        }

        output.WriteLine(table.ToString());
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cells.Count} cells differ from the policy:\n{string.Join('\n', wrong)}");

        // The table must not be trivially uniform: each trust level has open and shut cells except trusted (all open).
        Assert.Contains(cells, c => c.Trust == TrustLevel.Untrusted && c.Expected);
        Assert.Contains(cells, c => c.Trust == TrustLevel.SemiTrusted && c.Expected && c.Class != "client");
        Assert.All(cells.Where(c => c.Trust == TrustLevel.Trusted), c => Assert.True(c.Expected));
    }

    /// <summary>
    /// The containment rules as documented, evaluated in plain C#: trusted reaches everything; for the others, in order:
    /// the host itself and the fixed deny set are shut; tcp/25 is shut unless a semi-trusted policy rule names port 25;
    /// the client is open; a semi-trusted policy rule that matches opens; the host's LAN is shut; anything else is shut.
    /// The reply must also get back: a destination that is itself a non-trusted sandbox would drop it (not used here).
    /// </summary>
    internal static class Oracle
    {
        public static bool Allows(AdminPolicy policy, ContainmentOptions options, TrustLevel trust, IPAddress client, IPAddress destination, Proto proto, int port)
        {
            if (trust == TrustLevel.Trusted)
            {
                return true;
            }

            string[] fixedDeny = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4"];
            if (options.HostAddresses.Contains(destination) || fixedDeny.Any(p => IPNetwork.Parse(p).Contains(destination)))
            {
                return false;
            }

            var policyOpens = trust == TrustLevel.SemiTrusted && policy.Allow.Any(rule => RuleMatches(rule, destination, proto, port));
            if (proto == Proto.Tcp && port == 25)
            {
                return policyOpens && policy.Allow.Any(rule => rule.Ports.Any(r => r.First <= 25 && 25 <= r.Last) && RuleMatches(rule, destination, proto, port));
            }

            if (destination.Equals(client) || policyOpens)
            {
                return true;
            }

            return false;
        }

        private static bool RuleMatches(AllowRule rule, IPAddress destination, Proto proto, int port)
        {
            if (!rule.Prefixes.Any(p => p.Contains(destination)))
            {
                return false;
            }

            var name = proto.ToString().ToLowerInvariant();
            var protocols = rule.Protocols.Select(p => p.ToString().ToLowerInvariant()).ToList();
            if (protocols.Count == 0 && rule.Ports.Count > 0)
            {
                protocols = ["tcp", "udp"];
            }

            if (protocols.Count > 0 && !protocols.Contains(name))
            {
                return false;
            }

            return proto == Proto.Icmp || rule.Ports.Count == 0 || rule.Ports.Any(r => r.First <= port && port <= r.Last);
        }
    }
}
