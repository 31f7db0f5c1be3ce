using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Response;

namespace Moat.Detect.Cli;

/// <summary>The <c>moat detect</c> verbs: replay a capture through the detectors, check a response policy.</summary>
public static class DetectCommands
{
    // Output goes to terminals and scripts, never into HTML, so '+' and 'η' need not be escaped.
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Command Create()
    {
        var detect = new Command("detect", "Network attack detection: replay captures through the scan, flood and worm detectors; check response policies.");
        detect.Subcommands.Add(CreateReplay());
        detect.Subcommands.Add(CreatePolicyCheck());
        return detect;
    }

    private static Command CreateReplay()
    {
        var file = new Argument<string>("FILE") { Description = "A pcap or pcapng capture (Ethernet, raw IP, Linux SLL/SLL2 or loopback link)." };
        var json = new Option<bool>("--json") { Description = "Print the alerts and counts as JSON instead of one line per alert." };
        var detectors = new Option<string[]>("--detector")
        {
            Description = $"Run only these detectors (repeatable): {string.Join(", ", AlertKinds.All)}. Default: all.",
            AllowMultipleArgumentsPerToken = true,
        };
        var filterOut = new Option<string?>("--filter-out") { Description = "Write the packets the scan-containment filter lets through to this pcap file." };
        var localNets = new Option<string[]>("--local-net") { Description = "A local network in CIDR form (repeatable); local scanners get the local thresholds.", AllowMultipleArgumentsPerToken = true };
        var darknets = new Option<string[]>("--darknet") { Description = "An unused network in CIDR form (repeatable); hits there make a darknet scan.", AllowMultipleArgumentsPerToken = true };
        var inside = new Option<string[]>("--inside") { Description = "The protected network in CIDR form (repeatable) for the containment filter's hygiene rule.", AllowMultipleArgumentsPerToken = true };

        var replay = new Command(
            "replay",
            """
            Replay a capture file offline: decode every packet, turn it into flow events (attempt, established,
            refused, timed out, closed), run the detectors and print their alerts. With --filter-out, also write
            the packets that fast scan containment would have let through.

            Examples:
              moat detect replay scan.pcap
              moat detect replay scan.pcapng --json --detector trw --detector port-scan
              moat detect replay in.pcap --inside 192.168.100.102/32 --filter-out passed.pcap
            """);
        replay.Arguments.Add(file);
        foreach (var option in new Option[] { json, detectors, filterOut, localNets, darknets, inside })
        {
            replay.Options.Add(option);
        }

        replay.SetAction((parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            try
            {
                var selected = parseResult.GetValue(detectors) ?? [];
                var unknown = selected.FirstOrDefault(d => !AlertKinds.All.Contains(d));
                if (unknown is not null)
                {
                    error.WriteLine($"--detector '{unknown}' is not a detector; valid names are: {string.Join(", ", AlertKinds.All)}.");
                    return Task.FromResult(2);
                }

                var options = new DetectorOptions
                {
                    LocalNetworks = ParseNetworks(parseResult.GetValue(localNets), "--local-net"),
                    DarknetNetworks = ParseNetworks(parseResult.GetValue(darknets), "--darknet"),
                    ProtectedNetworks = ParseNetworks(parseResult.GetValue(inside), "--inside"),
                };
                string path = parseResult.GetValue(file)!;
                var bytes = CaptureReader.LoadFile(path);
                var engine = new DetectionEngine(options, selected);
                bool containment = selected.Length == 0 || selected.Contains(AlertKinds.ScanContainment) || parseResult.GetValue(filterOut) is not null;
                ReplayResult result;
                string? outPath = parseResult.GetValue(filterOut);
                if (outPath is not null)
                {
                    var first = CaptureReader.Read(bytes).FirstOrDefault();
                    using var stream = File.Create(outPath);
                    using var writer = new PcapWriter(stream, first.Data.IsEmpty ? LinkType.Ethernet : first.LinkType);
                    result = CaptureReplay.Run(bytes, engine, containment: true, passed: writer);
                }
                else
                {
                    result = CaptureReplay.Run(bytes, engine, containment);
                }

                var alerts = selected.Length == 0 ? result.Alerts : result.Alerts.Where(a => selected.Contains(a.Detector)).ToList();
                Print(output, parseResult.GetValue(json), alerts, result);
                return Task.FromResult(0);
            }
            catch (CaptureFormatException e)
            {
                error.WriteLine($"The capture could not be read: {e.Message}.");
                return Task.FromResult(1);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                error.WriteLine(e.Message);
                return Task.FromResult(1);
            }
        });
        return replay;
    }

    private static Command CreatePolicyCheck()
    {
        var file = new Argument<string>("FILE") { Description = "A response policy in YAML." };
        var json = new Option<bool>("--json") { Description = "Print the resolved policy as JSON." };
        var command = new Command(
            "check-policy",
            """
            Load a response policy (YAML), validate it and print the action each trust level takes for each alert kind.

            Example policy:
              untrusted:   { default: quarantine, trw: kill }
              semi-trusted: { default: throttle }
              trusted:     { default: record }

            Example: moat detect check-policy policy.yaml --json
            """);
        command.Arguments.Add(file);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            try
            {
                var policy = ResponsePolicy.Load(File.ReadAllText(parseResult.GetValue(file)!));
                var table = Enum.GetValues<TrustLevel>().ToDictionary(
                    t => ResponsePolicy.Name(t),
                    t => AlertKinds.All.ToDictionary(k => k, k => ResponsePolicy.Name(policy.Decide(t, k))));
                if (parseResult.GetValue(json))
                {
                    output.WriteLine(JsonSerializer.Serialize(table, Json));
                }
                else
                {
                    foreach (var (trust, actions) in table)
                    {
                        output.WriteLine($"{trust}: {string.Join(", ", actions.Select(a => $"{a.Key}={a.Value}"))}");
                    }
                }

                return Task.FromResult(0);
            }
            catch (ResponsePolicyException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine(e.Message);
                return Task.FromResult(1);
            }
            catch (IOException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine(e.Message);
                return Task.FromResult(1);
            }
        });
        return command;
    }

    private static List<IPNetwork> ParseNetworks(string[]? values, string option)
    {
        var networks = new List<IPNetwork>();
        foreach (var value in values ?? [])
        {
            if (!IPNetwork.TryParse(value, out var network))
            {
                throw new FormatException($"{option} '{value}' is not a network in CIDR form such as 192.168.0.0/16.");
            }

            networks.Add(network);
        }

        return networks;
    }

    private static void Print(TextWriter output, bool json, IReadOnlyList<Alert> alerts, ReplayResult result)
    {
        if (json)
        {
            var document = new
            {
                packets = result.Packets,
                undecoded = result.Undecoded,
                passed = result.Passed,
                blocked = result.Blocked,
                flowEvents = result.FlowEvents,
                alerts = alerts.Select(a => new
                {
                    detector = a.Detector,
                    source = a.Source.ToString(),
                    target = a.Target,
                    port = a.Port,
                    time = a.Time.ToString("o", CultureInfo.InvariantCulture),
                    evidence = a.Evidence,
                    message = a.Message,
                }),
            };
            output.WriteLine(JsonSerializer.Serialize(document, Json));
            return;
        }

        foreach (var alert in alerts)
        {
            output.WriteLine($"{alert.Time.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)}  {alert.Detector,-16} {alert.Source,-15} {alert.Message}");
        }

        output.WriteLine($"{result.Packets} packets ({result.Undecoded} not decoded), {result.FlowEvents} flow events, {alerts.Count} alerts; containment passed {result.Passed}, blocked {result.Blocked}.");
    }
}
