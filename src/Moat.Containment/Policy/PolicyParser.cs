using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Moat.Containment.Trust;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Moat.Containment.Policy;

/// <summary>
/// Reads an administrator policy from YAML and validates every field, refusing with one sentence that names the file,
/// line and field. The format:
/// <code>
/// default-trust: untrusted          # trusted | semi-trusted | untrusted
/// remote-default-trust: untrusted   # for clients named by a JID (user@domain) not listed
/// clients:                          # client key fingerprint or name: trust
///   alice: trusted
/// client-addresses:                 # addresses the administrator binds to a client (may lie in the LAN)
///   alice: [198.18.1.10]
/// allow:                            # what semi-trusted sandboxes may reach
///   - name: skyserver-db            # letters, digits, '-', '_', '.'; shows in refusal logs
///     prefixes: [198.18.3.0/24]
///     protocols: [tcp]              # tcp | udp | icmp; omitted: any
///     ports: [5432, 8000-8100]      # omitted: any (SMTP 25 only when listed)
///     rate: 10mbit                  # optional: bit | kbit | mbit | gbit per second
/// rates:                            # shaping per trust level (needs `moat host --uplink DEV=RATE`)
///   untrusted: { egress: 10mbit, rest: 1mbit, flows: [{ name: data, remote: 198.18.3.0/24, rate: 8mbit }] }
/// </code>
/// The rates section is read by PolicyParser.Rates.cs, the quotas section by PolicyParser.Quotas.cs.
/// </summary>
public static partial class PolicyParser
{
    private static readonly string[] TopLevel = ["default-trust", "remote-default-trust", "clients", "client-addresses", "allow", "rates", "quotas", "names"];
    private static readonly string[] RuleFields = ["name", "prefixes", "protocols", "ports", "rate"];

    public static AdminPolicy ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ContainmentException($"Policy file {path} does not exist; give the path of a policy YAML file.", ErrorKind.NotFound, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ContainmentInputException($"Policy file {path} cannot be read: {e.Message}");
        }

        return Parse(text, path);
    }

    public static AdminPolicy Parse(string yaml, string source)
    {
        var stream = LoadYaml(yaml, source);

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return AdminPolicy.Default with { Source = source };
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new PolicyException(source, stream.Documents[0].RootNode.Start.Line, "(top)", $"the policy must be a mapping with the keys {string.Join(", ", TopLevel)}.");
        }

        var policy = new AdminPolicy { Source = source };
        foreach (var (keyNode, value) in root.Children)
        {
            var key = Scalar(source, keyNode, "(key)");
            switch (key)
            {
                case "default-trust":
                    policy = policy with { DefaultTrust = Trust(source, value, key) };
                    break;
                case "remote-default-trust":
                    policy = policy with { RemoteDefaultTrust = Trust(source, value, key) };
                    break;
                case "quotas":
                {
                    var (levels, perClient) = Quotas(source, value);
                    policy = policy with { Quotas = levels, ClientQuotas = perClient };
                    break;
                }

                case "clients":
                    policy = policy with { Clients = Clients(source, value) };
                    break;
                case "client-addresses":
                    policy = policy with { ClientAddresses = ClientAddresses(source, value) };
                    break;
                case "allow":
                    policy = policy with { Allow = Rules(source, value) };
                    break;
                case "rates":
                    policy = policy with { Rates = Rates(source, value) };
                    break;
                case "names":
                {
                    var (levels, perClient) = Names(source, value);
                    policy = policy with { LevelNames = levels, ClientNames = perClient };
                    break;
                }

                default:
                    throw new PolicyException(source, keyNode.Start.Line, key, $"unknown key; the policy's keys are {string.Join(", ", TopLevel)}.");
            }
        }

        return policy;
    }

    private static Dictionary<string, TrustLevel> Clients(string source, YamlNode node)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return [];
        }

        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, "clients", "must map each client (key fingerprint or name) to trusted, semi-trusted or untrusted.");
        }

        var clients = new Dictionary<string, TrustLevel>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            var client = Scalar(source, keyNode, "clients");
            if (!clients.TryAdd(client, Trust(source, value, $"clients.{client}")))
            {
                throw new PolicyException(source, keyNode.Start.Line, $"clients.{client}", "this client is listed twice; give each client one trust level.");
            }
        }

        return clients;
    }

    private static Dictionary<string, IReadOnlyList<IPNetwork>> ClientAddresses(string source, YamlNode node)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return [];
        }

        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, "client-addresses", "must map each client to the IPv4 addresses or prefixes that are its own, e.g. alice: [198.18.1.10].");
        }

        var bound = new Dictionary<string, IReadOnlyList<IPNetwork>>(StringComparer.OrdinalIgnoreCase); // JIDs ignore case
        foreach (var (keyNode, value) in map.Children)
        {
            var client = Scalar(source, keyNode, "client-addresses");
            var field = $"client-addresses.{client}";
            if (!bound.TryAdd(client, [.. Items(source, value, field).Select(p => Prefix(source, p, field))]))
            {
                throw new PolicyException(source, keyNode.Start.Line, field, "this client is listed twice; give all its addresses in one list.");
            }
        }

        return bound;
    }

    private static List<AllowRule> Rules(string source, YamlNode node)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return [];
        }

        if (node is not YamlSequenceNode list)
        {
            throw new PolicyException(source, node.Start.Line, "allow", "must be a list of rules, each with 'prefixes' and optionally 'name', 'protocols', 'ports', 'rate'.");
        }

        var rules = new List<AllowRule>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Children.Count; i++)
        {
            var rule = Rule(source, list.Children[i], i);
            if (!names.Add(rule.Name))
            {
                throw new PolicyException(source, list.Children[i].Start.Line, $"allow[{i}].name", $"the name '{rule.Name}' is used by an earlier rule; give each rule its own name.");
            }

            rules.Add(rule);
        }

        return rules;
    }

    private static AllowRule Rule(string source, YamlNode node, int index)
    {
        var at = $"allow[{index}]";
        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, at, "a rule must be a mapping with 'prefixes' and optionally 'name', 'protocols', 'ports', 'rate'.");
        }

        string name = $"allow{index}";
        List<IPNetwork>? prefixes = null;
        var protocols = new List<PolicyProtocol>();
        var ports = new List<PortRange>();
        long? rate = null;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(source, keyNode, at);
            var field = $"{at}.{key}";
            switch (key)
            {
                case "name":
                    name = Scalar(source, value, field);
                    if (!RuleName().IsMatch(name))
                    {
                        throw new PolicyException(source, value.Start.Line, field, $"'{name}' is not a rule name; use 1 to 32 letters, digits, '-', '_' or '.'.");
                    }

                    break;
                case "prefixes":
                    prefixes = [.. Items(source, value, field).Select(p => Prefix(source, p, field))];
                    if (prefixes.Count == 0)
                    {
                        throw new PolicyException(source, value.Start.Line, field, "lists no prefix; give at least one IPv4 prefix such as 198.18.3.0/24.");
                    }

                    break;
                case "protocols":
                    protocols = [.. Items(source, value, field).Select(p => Protocol(source, p, field)).Distinct()];
                    break;
                case "ports":
                    ports = [.. Items(source, value, field).Select(p => Port(source, p, field))];
                    break;
                case "rate":
                    rate = Rate(source, value, field);
                    break;
                default:
                    throw new PolicyException(source, keyNode.Start.Line, field, $"unknown key; a rule's keys are {string.Join(", ", RuleFields)}.");
            }
        }

        if (prefixes is null)
        {
            throw new PolicyException(source, node.Start.Line, $"{at}.prefixes", "is missing; every rule names the IPv4 prefixes it opens, e.g. prefixes: [198.18.3.0/24].");
        }

        if (ports.Count > 0 && protocols.Count > 0 && !protocols.Any(p => p is PolicyProtocol.Tcp or PolicyProtocol.Udp))
        {
            throw new PolicyException(source, node.Start.Line, $"{at}.ports", "ports apply to tcp and udp only; add tcp or udp to 'protocols' or remove 'ports'.");
        }

        return new AllowRule(name, prefixes, protocols, ports, rate);
    }

    private static IEnumerable<YamlScalarNode> Items(string source, YamlNode node, string field) => node switch
    {
        YamlSequenceNode list => list.Children.Select(c => c as YamlScalarNode ?? throw new PolicyException(source, c.Start.Line, field, "each item must be a plain value, not a list or mapping.")),
        YamlScalarNode scalar => [scalar],
        _ => throw new PolicyException(source, node.Start.Line, field, "must be a value or a list of values."),
    };

    private static IPNetwork Prefix(string source, YamlScalarNode node, string field)
    {
        var text = node.Value ?? "";
        var candidate = text.Contains('/', StringComparison.Ordinal) ? text : text + "/32";
        var slash = candidate.IndexOf('/', StringComparison.Ordinal);
        if (!IPNetwork.TryParse(candidate, out var prefix) || prefix.BaseAddress.AddressFamily != AddressFamily.InterNetwork
            || !IPAddress.TryParse(candidate[..slash], out var written) || !written.Equals(prefix.BaseAddress))
        {
            throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not an IPv4 prefix; write it as 198.18.3.0/24 with the host bits zero, or as a single address.");
        }

        return prefix;
    }

    private static PolicyProtocol Protocol(string source, YamlScalarNode node, string field) => node.Value?.ToLowerInvariant() switch
    {
        "tcp" => PolicyProtocol.Tcp,
        "udp" => PolicyProtocol.Udp,
        "icmp" => PolicyProtocol.Icmp,
        _ => throw new PolicyException(source, node.Start.Line, field, $"'{node.Value}' is not a protocol; use tcp, udp or icmp."),
    };

    private static PortRange Port(string source, YamlScalarNode node, string field)
    {
        var text = node.Value ?? "";
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var (first, last) = dash < 0 ? (text, text) : (text[..dash], text[(dash + 1)..]);
        if (ushort.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var a) && ushort.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var b) && a >= 1 && a <= b)
        {
            return new PortRange(a, b);
        }

        throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a port; use a number from 1 to 65535 or a range such as 8000-8100.");
    }

    private static long Rate(string source, YamlNode node, string field)
    {
        var text = (node as YamlScalarNode)?.Value?.Trim().ToLowerInvariant() ?? "";
        var match = RateText().Match(text);
        if (match.Success && decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) && number > 0)
        {
            var unit = match.Groups[2].Value switch
            {
                "kbit" => 1_000m,
                "mbit" => 1_000_000m,
                "gbit" => 1_000_000_000m,
                _ => 1m,
            };

            // Compared before multiplying: a number that overflows decimal or long is refused, not thrown.
            var bytes = number <= long.MaxValue * 8m / unit ? (long)(number * unit / 8) : 0;
            if (bytes >= 1)
            {
                return bytes;
            }
        }

        throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a rate; use a number with bit, kbit, mbit or gbit (per second), e.g. 10mbit.");
    }

    private static TrustLevel Trust(string source, YamlNode node, string field)
    {
        var text = Scalar(source, node, field);
        return TrustLevels.TryParse(text, out var level)
            ? level
            : throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a trust level; use {TrustLevels.Names}.");
    }

    private static string Scalar(string source, YamlNode node, string field) =>
        node is YamlScalarNode { Value: { Length: > 0 } value }
            ? value
            : throw new PolicyException(source, node.Start.Line, field, "must be a non-empty plain value.");

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        return (cut < 0 ? message : message[..cut]).TrimEnd('.');
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,32}$")]
    private static partial Regex RuleName();

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)\s*(bit|kbit|mbit|gbit)$")]
    private static partial Regex RateText();
}
