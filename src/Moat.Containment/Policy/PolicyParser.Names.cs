using Moat.Containment.Names;
using Moat.Containment.Trust;
using YamlDotNet.RepresentationModel;

namespace Moat.Containment.Policy;

/// <summary>
/// The 'names' section: which names sandboxes may resolve (and so reach) through the host's egress resolver, per
/// trust level and per client; a deny entry wins over every allow entry.
/// <code>
/// names:
///   untrusted: { allow: [api.example.org], deny: [] }
///   semi-trusted: { allow: ["*.example.org"], deny: [ads.example.org] }
///   clients:
///     alice: { allow: [data.example.net] }
/// </code>
/// </summary>
public static partial class PolicyParser
{
    private static readonly string[] NameListFields = ["allow", "deny"];

    private static (Dictionary<TrustLevel, EgressNames> Levels, Dictionary<string, EgressNames> Clients) Names(string source, YamlNode node)
    {
        var levels = new Dictionary<TrustLevel, EgressNames>();
        var clients = new Dictionary<string, EgressNames>(StringComparer.Ordinal);
        if (node is YamlScalarNode { Value: null or "" })
        {
            return (levels, clients);
        }

        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, "names", $"must map trust levels ({TrustLevels.Names}) and 'clients' to lists of names, e.g. untrusted: {{ allow: [api.example.org] }}.");
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(source, keyNode, "names");
            if (key == "clients")
            {
                if (value is not YamlMappingNode perClient)
                {
                    throw new PolicyException(source, value.Start.Line, "names.clients", "must map each client to lists of names, e.g. alice: { allow: [api.example.org] }.");
                }

                foreach (var (clientNode, lists) in perClient.Children)
                {
                    var client = Scalar(source, clientNode, "names.clients");
                    if (!clients.TryAdd(client, NameLists(source, lists, $"names.clients.{client}")))
                    {
                        throw new PolicyException(source, clientNode.Start.Line, $"names.clients.{client}", "this client is listed twice; give it one entry.");
                    }
                }

                continue;
            }

            if (!TrustLevels.TryParse(key, out var level))
            {
                throw new PolicyException(source, keyNode.Start.Line, $"names.{key}", $"is neither a trust level ({TrustLevels.Names}) nor 'clients'.");
            }

            if (!levels.TryAdd(level, NameLists(source, value, $"names.{key}")))
            {
                throw new PolicyException(source, keyNode.Start.Line, $"names.{key}", "this trust level is listed twice; give it one entry.");
            }
        }

        return (levels, clients);
    }

    private static EgressNames NameLists(string source, YamlNode node, string at)
    {
        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, at, "must be a mapping with 'allow' and/or 'deny', each a list of names such as api.example.org or *.example.org.");
        }

        List<NamePattern> allow = [], deny = [];
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(source, keyNode, at);
            var field = $"{at}.{key}";
            var list = key switch
            {
                "allow" => allow,
                "deny" => deny,
                _ => throw new PolicyException(source, keyNode.Start.Line, field, $"unknown key; a list of names has the keys {string.Join(", ", NameListFields)}."),
            };
            foreach (var item in Items(source, value, field))
            {
                list.Add(NamePattern.TryParse(item.Value, out var reason) ?? throw new PolicyException(source, item.Start.Line, field, reason!));
                if (list.Count > EgressNames.MaxEntries)
                {
                    throw new PolicyException(source, item.Start.Line, field, $"more than {EgressNames.MaxEntries} names; use a wildcard such as *.example.org.");
                }
            }
        }

        return new EgressNames([.. allow.DistinctBy(p => p.Text)], [.. deny.DistinctBy(p => p.Text)]);
    }
}
