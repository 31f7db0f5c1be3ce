using Moat.Detect.Detectors;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Moat.Detect.Response;

/// <summary>Maps (trust level, alert kind) to a response action; loadable from YAML.</summary>
/// <remarks>
/// Document shape: one mapping per trust level (<c>trusted</c>, <c>semi-trusted</c>, <c>untrusted</c>), each mapping
/// alert kinds (see <see cref="AlertKinds"/>) or <c>default</c> to <c>record</c>, <c>throttle</c>, <c>quarantine</c>
/// or <c>kill</c>. Levels or kinds left out keep the built-in defaults of <see cref="Default"/>.
/// </remarks>
public sealed class ResponsePolicy
{
    private const string DefaultKey = "default";
    private readonly Dictionary<(TrustLevel, string), ResponseAction> _rules;
    private readonly Dictionary<TrustLevel, ResponseAction> _defaults;

    private ResponsePolicy(Dictionary<(TrustLevel, string), ResponseAction> rules, Dictionary<TrustLevel, ResponseAction> defaults)
    {
        _rules = rules;
        _defaults = defaults;
    }

    /// <summary>Trusted: record; semi-trusted: throttle (record floods' targets too); untrusted: quarantine, kill on worm back doors.</summary>
    public static ResponsePolicy Default { get; } = new(
        new()
        {
            [(TrustLevel.SemiTrusted, AlertKinds.BackdoorPort)] = ResponseAction.Quarantine,
            [(TrustLevel.Untrusted, AlertKinds.BackdoorPort)] = ResponseAction.Kill,
            [(TrustLevel.Untrusted, AlertKinds.PacketFlood)] = ResponseAction.Kill,
        },
        new()
        {
            [TrustLevel.Trusted] = ResponseAction.Record,
            [TrustLevel.SemiTrusted] = ResponseAction.Throttle,
            [TrustLevel.Untrusted] = ResponseAction.Quarantine,
        });

    public ResponseAction Decide(TrustLevel trust, string alertKind) =>
        _rules.TryGetValue((trust, alertKind), out var action) ? action : _defaults[trust];

    /// <summary>Parses a YAML policy; throws <see cref="ResponsePolicyException"/> naming the first bad entry.</summary>
    public static ResponsePolicy Load(string yaml)
    {
        Dictionary<string, Dictionary<string, string>>? document;
        try
        {
            document = new DeserializerBuilder().Build().Deserialize<Dictionary<string, Dictionary<string, string>>?>(yaml);
        }
        catch (YamlException e)
        {
            throw new ResponsePolicyException(
                $"The response policy is not a mapping of trust levels to mappings of alert kinds to actions (line {e.Start.Line}): {e.Message}", e);
        }

        var rules = new Dictionary<(TrustLevel, string), ResponseAction>(Default._rules);
        var defaults = new Dictionary<TrustLevel, ResponseAction>(Default._defaults);
        foreach (var (levelName, entries) in document ?? [])
        {
            var level = ParseLevel(levelName);

            // A level that is written out replaces the built-in row, so nothing of the defaults leaks into it silently.
            foreach (var key in rules.Keys.Where(k => k.Item1 == level).ToList())
            {
                rules.Remove(key);
            }

            foreach (var (kind, actionName) in entries ?? [])
            {
                var action = ParseAction(levelName, kind, actionName);
                if (kind == DefaultKey)
                {
                    defaults[level] = action;
                }
                else if (AlertKinds.All.Contains(kind))
                {
                    rules[(level, kind)] = action;
                }
                else
                {
                    throw new ResponsePolicyException(
                        $"Alert kind '{kind}' under '{levelName}' is not known; valid kinds are {DefaultKey}, {string.Join(", ", AlertKinds.All)}.");
                }
            }
        }

        return new ResponsePolicy(rules, defaults);
    }

    public static string Name(TrustLevel level) => level switch
    {
        TrustLevel.Trusted => "trusted",
        TrustLevel.SemiTrusted => "semi-trusted",
        _ => "untrusted",
    };

    public static string Name(ResponseAction action) => action.ToString().ToLowerInvariant();

    private static TrustLevel ParseLevel(string name) => name switch
    {
        "trusted" => TrustLevel.Trusted,
        "semi-trusted" => TrustLevel.SemiTrusted,
        "untrusted" => TrustLevel.Untrusted,
        _ => throw new ResponsePolicyException($"Trust level '{name}' is not known; valid levels are trusted, semi-trusted, untrusted."),
    };

    private static ResponseAction ParseAction(string level, string kind, string? name) => name switch
    {
        "record" => ResponseAction.Record,
        "throttle" => ResponseAction.Throttle,
        "quarantine" => ResponseAction.Quarantine,
        "kill" => ResponseAction.Kill,
        _ => throw new ResponsePolicyException(
            $"Action '{name}' for '{kind}' under '{level}' is not known; valid actions are record, throttle, quarantine, kill."),
    };
}
