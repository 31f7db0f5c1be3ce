using System.Globalization;
using Moat.Containment.Trust;
using YamlDotNet.RepresentationModel;

namespace Moat.Containment.Policy;

/// <summary>
/// The 'quotas' section: what one client may hold at once, per trust level and per client.
/// <code>
/// quotas:
///   untrusted: { sandboxes: 4, memory: 2GiB, execs: 4 }
///   semi-trusted: { sandboxes: 16 }
///   clients:
///     jobs@moat.test: { sandboxes: 50, memory: 64GiB, execs: unlimited }
/// </code>
/// </summary>
public static partial class PolicyParser
{
    private static readonly string[] QuotaFields = ["sandboxes", "memory", "execs"];

    private static (Dictionary<TrustLevel, ClientQuota> Levels, Dictionary<string, ClientQuota> Clients) Quotas(string source, YamlNode node)
    {
        var levels = new Dictionary<TrustLevel, ClientQuota>();
        var clients = new Dictionary<string, ClientQuota>(StringComparer.OrdinalIgnoreCase);
        if (node is YamlScalarNode { Value: null or "" })
        {
            return (levels, clients);
        }

        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, "quotas", $"must map trust levels ({TrustLevels.Names}) and 'clients' to quotas with {string.Join(", ", QuotaFields)}.");
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(source, keyNode, "quotas");
            if (key == "clients")
            {
                if (value is not YamlMappingNode perClient)
                {
                    throw new PolicyException(source, value.Start.Line, "quotas.clients", "must map each client to a quota, e.g. alice: { sandboxes: 8 }.");
                }

                foreach (var (clientNode, quota) in perClient.Children)
                {
                    var client = Scalar(source, clientNode, "quotas.clients");
                    if (!clients.TryAdd(client, Quota(source, quota, $"quotas.clients.{client}")))
                    {
                        throw new PolicyException(source, clientNode.Start.Line, $"quotas.clients.{client}", "this client is listed twice; give it one quota.");
                    }
                }

                continue;
            }

            if (!TrustLevels.TryParse(key, out var level))
            {
                throw new PolicyException(source, keyNode.Start.Line, $"quotas.{key}", $"is neither a trust level ({TrustLevels.Names}) nor 'clients'.");
            }

            if (!levels.TryAdd(level, Quota(source, value, $"quotas.{key}")))
            {
                throw new PolicyException(source, keyNode.Start.Line, $"quotas.{key}", "this trust level is listed twice; give it one quota.");
            }
        }

        return (levels, clients);
    }

    private static ClientQuota Quota(string source, YamlNode node, string at)
    {
        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, at, $"a quota must be a mapping with any of {string.Join(", ", QuotaFields)}.");
        }

        var quota = new ClientQuota();
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(source, keyNode, at);
            var field = $"{at}.{key}";
            var text = Scalar(source, value, field).Trim();
            quota = key switch
            {
                "sandboxes" => quota with { Sandboxes = Count(source, value, field, text) },
                "execs" => quota with { Execs = Count(source, value, field, text) },
                "memory" => quota with { MemoryBytes = Bytes(source, value, field, text) },
                _ => throw new PolicyException(source, keyNode.Start.Line, field, $"unknown key; a quota's keys are {string.Join(", ", QuotaFields)}."),
            };
        }

        return quota;
    }

    private static int Count(string source, YamlNode node, string field, string text) =>
        text == "unlimited" ? ClientQuota.Unlimited
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < ClientQuota.Unlimited ? n
        : throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a count; use a whole number (0 or more) or 'unlimited'.");

    private static long Bytes(string source, YamlNode node, string field, string text)
    {
        if (text == "unlimited")
        {
            return ClientQuota.UnlimitedBytes;
        }

        var (digits, unit) = text.EndsWith("GiB", StringComparison.Ordinal) ? (text[..^3], 1L << 30)
            : text.EndsWith("MiB", StringComparison.Ordinal) ? (text[..^3], 1L << 20)
            : (text, 1L);
        return long.TryParse(digits.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= (1L << 50) ? n * unit
            : throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a size; use a whole number of MiB or GiB (e.g. 2GiB, 512MiB) or 'unlimited'.");
    }
}
