using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Containment.Shaping;
using Moat.Containment.Trust;
using YamlDotNet.RepresentationModel;

namespace Moat.Containment.Policy;

// The policy's `rates:` section: shaping (HTB) per trust level.
//   rates:
//     untrusted:
//       egress: 10mbit            # everything the sandbox sends (required)
//       ingress: 10mbit           # what is sent to it (optional)
//       rest: 1mbit               # flows no class matches (optional; default: up to egress)
//       flows:                    # optional, first match wins, at most 14
//         - name: data
//           remote: 198.18.3.0/24
//           protocol: tcp         # optional: tcp | udp
//           port: 5432            # optional, needs protocol
//           rate: 8mbit           # optional; default: up to egress
public static partial class PolicyParser
{
    private static readonly string[] RateFields = ["egress", "ingress", "rest", "flows"];
    private static readonly string[] FlowFields = ["name", "remote", "protocol", "port", "rate"];

    private static Dictionary<TrustLevel, SandboxRates> Rates(string source, YamlNode node)
    {
        var result = new Dictionary<TrustLevel, SandboxRates>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            return result;
        }

        if (node is not YamlMappingNode map)
        {
            throw new PolicyException(source, node.Start.Line, "rates", $"must map trust levels ({TrustLevels.Names}) to rates, e.g. untrusted: {{ egress: 10mbit }}.");
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var trust = Trust(source, keyNode, "rates");
            var field = $"rates.{trust.ToName()}";
            if (value is not YamlMappingNode fields)
            {
                throw new PolicyException(source, value.Start.Line, field, "must be a mapping with 'egress' and optionally 'ingress', 'rest', 'flows'.");
            }

            BitRate? egress = null, ingress = null, rest = null;
            var flows = new List<FlowClass>();
            foreach (var (k, v) in fields.Children)
            {
                var key = Scalar(source, k, field);
                switch (key)
                {
                    case "egress":
                        egress = ShapingRate(source, v, $"{field}.egress");
                        break;
                    case "ingress":
                        ingress = ShapingRate(source, v, $"{field}.ingress");
                        break;
                    case "rest":
                        rest = ShapingRate(source, v, $"{field}.rest");
                        break;
                    case "flows":
                        flows = Flows(source, v, $"{field}.flows");
                        break;
                    default:
                        throw new PolicyException(source, k.Start.Line, $"{field}.{key}", $"unknown key; rates take {string.Join(", ", RateFields)}.");
                }
            }

            if (egress is null)
            {
                throw new PolicyException(source, value.Start.Line, $"{field}.egress", "is missing; every trust level's rates start with the sandbox's egress cap, e.g. egress: 10mbit.");
            }

            var rates = new SandboxRates { Egress = egress.Value, Ingress = ingress, Rest = rest, Flows = flows };
            try
            {
                rates.Validate($"(trust level {trust.ToName()})");
            }
            catch (ShapingInputException e)
            {
                throw new PolicyException(source, value.Start.Line, field, e.Message);
            }

            result[trust] = rates;
        }

        return result;
    }

    private static List<FlowClass> Flows(string source, YamlNode node, string field)
    {
        if (node is not YamlSequenceNode list)
        {
            throw new PolicyException(source, node.Start.Line, field, "must be a list of flow classes, each with 'name' and 'remote'.");
        }

        var flows = new List<FlowClass>();
        foreach (var item in list.Children)
        {
            var at = $"{field}[{flows.Count}]";
            if (item is not YamlMappingNode map)
            {
                throw new PolicyException(source, item.Start.Line, at, "must be a mapping with 'name' and 'remote', and optionally 'protocol', 'port', 'rate'.");
            }

            string? name = null;
            IPNetwork? remote = null;
            var protocol = FlowProtocol.Any;
            ushort? port = null;
            BitRate? rate = null;
            foreach (var (k, v) in map.Children)
            {
                var key = Scalar(source, k, at);
                var f = $"{at}.{key}";
                switch (key)
                {
                    case "name":
                        name = Scalar(source, v, f);
                        break;
                    case "remote":
                        remote = AnyPrefix(source, v, f);
                        break;
                    case "protocol":
                        protocol = Scalar(source, v, f).ToLowerInvariant() switch
                        {
                            "tcp" => FlowProtocol.Tcp,
                            "udp" => FlowProtocol.Udp,
                            var other => throw new PolicyException(source, v.Start.Line, f, $"'{other}' is not a flow protocol; use tcp or udp."),
                        };
                        break;
                    case "port":
                        port = ushort.TryParse(Scalar(source, v, f), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0
                            ? p
                            : throw new PolicyException(source, v.Start.Line, f, "is not a port; use a number from 1 to 65535.");
                        break;
                    case "rate":
                        rate = ShapingRate(source, v, f);
                        break;
                    default:
                        throw new PolicyException(source, k.Start.Line, f, $"unknown key; a flow class takes {string.Join(", ", FlowFields)}.");
                }
            }

            if (name is null || remote is null)
            {
                throw new PolicyException(source, item.Start.Line, at, "needs a 'name' and a 'remote' prefix, e.g. { name: data, remote: 198.18.3.0/24 }.");
            }

            flows.Add(new FlowClass(name, remote.Value) { Protocol = protocol, Port = port, Rate = rate });
        }

        return flows;
    }

    private static BitRate ShapingRate(string source, YamlNode node, string field)
    {
        var text = Scalar(source, node, field);
        try
        {
            return BitRate.Parse(text, field);
        }
        catch (ShapingInputException e)
        {
            throw new PolicyException(source, node.Start.Line, field, e.Message);
        }
    }

    private static IPNetwork AnyPrefix(string source, YamlNode node, string field)
    {
        var text = Scalar(source, node, field);
        var candidate = text.Contains('/', StringComparison.Ordinal) ? text : text + (text.Contains(':', StringComparison.Ordinal) ? "/128" : "/32");
        if (IPNetwork.TryParse(candidate, out var prefix) && prefix.BaseAddress.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6
            && IPAddress.TryParse(candidate[..candidate.IndexOf('/', StringComparison.Ordinal)], out var written) && written.Equals(prefix.BaseAddress))
        {
            return prefix;
        }

        throw new PolicyException(source, node.Start.Line, field, $"'{text}' is not a prefix; write it as 198.18.3.0/24 with the host bits zero, or as a single address.");
    }
}
