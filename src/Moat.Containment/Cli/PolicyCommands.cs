using System.CommandLine;
using System.Text.Json;
using Moat.Containment.Policy;
using Moat.Containment.Trust;

namespace Moat.Containment.Cli;

/// <summary>`moat policy check FILE`: validates an administrator policy without touching any rule.</summary>
public static class PolicyCommands
{
    public static Command Create()
    {
        var policy = new Command("policy", "The host administrator's containment policy: who is trusted how much, and what semi-trusted sandboxes may reach.");
        var file = new Argument<FileInfo>("FILE") { Description = "The policy YAML, e.g. /etc/moat/policy.yaml." };
        var json = new Option<bool>("--json") { Description = "Print the parsed policy (or the refusal) as JSON." };
        var check = new Command(
            "check",
            """
            Validates a policy file and prints what it means; changes nothing. A file has the keys:
              default-trust: untrusted            # trusted | semi-trusted | untrusted
              clients: { alice: trusted }         # client key fingerprint or name -> trust
              allow:                              # what semi-trusted sandboxes may reach
                - name: db
                  prefixes: [198.18.3.0/24]
                  protocols: [tcp]                # tcp | udp | icmp; omitted: any
                  ports: [5432, 8000-8100]        # omitted: any (SMTP 25 only when listed)
                  rate: 10mbit                    # optional
            Exit code 0: valid; 1: refused, with the file, line and field named.
            Example: moat policy check /etc/moat/policy.yaml --json
            """)
        {
            file,
            json,
        };
        check.SetAction(parse =>
        {
            var path = parse.GetValue(file)!.FullName;
            var asJson = parse.GetValue(json);
            try
            {
                var parsed = PolicyParser.ParseFile(path);
                Console.WriteLine(asJson ? JsonSerializer.Serialize(Describe(parsed)) : Text(parsed));
                return 0;
            }
            catch (ContainmentException e)
            {
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(new { valid = false, error = e.Message }));
                }
                else
                {
                    Console.Error.WriteLine(e.Message);
                }

                return 1;
            }
        });
        policy.Subcommands.Add(check);
        return policy;
    }

    private static object Describe(AdminPolicy p) => new
    {
        valid = true,
        source = p.Source,
        defaultTrust = p.DefaultTrust.ToName(),
        clients = p.Clients.ToDictionary(c => c.Key, c => c.Value.ToName()),
        allow = p.Allow.Select(a => new
        {
            name = a.Name,
            prefixes = a.Prefixes.Select(x => x.ToString()),
            protocols = a.Protocols.Select(x => x.ToString().ToLowerInvariant()),
            ports = a.Ports.Select(x => x.ToString()),
            rateBytesPerSecond = a.RateBytesPerSecond,
            opensSmtp = a.OpensSmtp,
        }),
    };

    private static string Text(AdminPolicy p)
    {
        var lines = new List<string> { $"{p.Source}: valid", $"default trust: {p.DefaultTrust.ToName()}" };
        lines.AddRange(p.Clients.Select(c => $"client {c.Key}: {c.Value.ToName()}"));
        lines.AddRange(p.Allow.Select(a =>
            $"allow {a.Name}: {string.Join(", ", a.Prefixes)} {(a.Protocols.Count == 0 ? "any protocol" : string.Join("/", a.Protocols).ToLowerInvariant())} " +
            $"{(a.Ports.Count == 0 ? "any port" : "ports " + string.Join(",", a.Ports))}{(a.RateBytesPerSecond is { } r ? $" at {r * 8 / 1000} kbit/s" : "")}{(a.OpensSmtp ? " (opens SMTP)" : "")}"));
        return string.Join('\n', lines);
    }
}
