using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Moat.Containment.Flows;

namespace Moat.Containment.Cli;

/// <summary>The <c>moat flows</c> verb: who connected where, allowed or refused, from the flow log.</summary>
public static class FlowCommands
{
    /// <summary>&lt;state&gt;/flows.db, the state folder being $MOAT_STATE_DIR or /var/lib/moat.</summary>
    public static string DefaultDatabasePath =>
        Path.Combine(Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat", "flows.db");

    /// <param name="resolveSandbox">Turns a sandbox name into its id (the log keeps ids); null when it cannot, in which
    /// case the value is taken as an id. The moat CLI asks the host agent.</param>
    public static Command Create(Func<string, CancellationToken, Task<string?>>? resolveSandbox = null)
    {
        var sandbox = new Option<string?>("--sandbox") { Description = "Only this sandbox's flows (its id, or its name while the host agent knows it)." };
        var client = new Option<string?>("--client") { Description = "Only flows of sandboxes handed to this client." };
        var since = new Option<string?>("--since") { Description = "Only flows that started since this time: an ISO 8601 time (2026-12-02T03:00Z) or an age (90s, 10m, 2h, 7d)." };
        var verdict = new Option<string?>("--verdict") { Description = "Only 'allowed' or only 'refused' flows." };
        var limit = new Option<int>("--limit") { Description = "At most this many flows (the newest), printed oldest first.", DefaultValueFactory = _ => 1000 };
        var db = new Option<string>("--db") { Description = "The flow log (default <state>/flows.db; state is $MOAT_STATE_DIR or /var/lib/moat).", DefaultValueFactory = _ => DefaultDatabasePath };
        var json = new Option<bool>("--json") { Description = "Print the flows as a JSON array." };
        var command = new Command("flows", """
            Show the flow log: every connection of semi-trusted and untrusted sandboxes, allowed or refused, as the
            kernel reported it (conntrack for allowed flows, NFLOG for refusals), with the sandbox, the client it was
            handed to, the 5-tuple, bytes each way, the verdict and the rule that refused it. This is what names the
            culprit if a sandbox attacks someone. It reads the host agent's log while the agent keeps writing.

            Examples:
              moat flows --sandbox s17 --since 1h
              moat flows --client alice --verdict refused --json
              moat flows --since 2026-12-02T03:00Z --limit 50
            """);
        foreach (var option in new Option[] { sandbox, client, since, verdict, limit, db, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            try
            {
                var sandboxRef = parseResult.GetValue(sandbox);
                if (sandboxRef is not null && resolveSandbox is not null)
                {
                    sandboxRef = await resolveSandbox(sandboxRef, cancellationToken).ConfigureAwait(false) ?? sandboxRef;
                }

                var query = new FlowQuery
                {
                    SandboxId = sandboxRef,
                    Client = parseResult.GetValue(client),
                    Since = parseResult.GetValue(since) is { } s ? ParseSince(s, DateTimeOffset.UtcNow) : null,
                    Verdict = parseResult.GetValue(verdict) switch
                    {
                        null => null,
                        "allowed" => FlowVerdict.Allowed,
                        "refused" => FlowVerdict.Refused,
                        var other => throw new ContainmentInputException($"--verdict '{other}' is not a verdict: use 'allowed' or 'refused'."),
                    },
                    Limit = parseResult.GetValue(limit) is var n and > 0 ? n : throw new ContainmentInputException("--limit must be at least 1."),
                };
                IReadOnlyList<FlowRecord> flows;
                using (var store = FlowStore.OpenReadOnly(parseResult.GetValue(db)!))
                {
                    flows = store.Query(query);
                }

                if (parseResult.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(flows.Select(ToJson), ClientCommands.Json)).ConfigureAwait(false);
                    return 0;
                }

                await output.WriteLineAsync($"{"STARTED",-24} {"SANDBOX",-12} {"CLIENT",-12} {"PROTO",-5} {"FLOW",-47} {"SENT",10} {"RECEIVED",10} VERDICT").ConfigureAwait(false);
                foreach (var f in flows)
                {
                    var tuple = $"{f.Source}:{f.SourcePort} -> {f.Destination}:{f.DestinationPort}";
                    var decided = f.Verdict == FlowVerdict.Refused ? $"refused by {f.Rule} ({f.Packets} packets)" : f.Ended is null ? "allowed (open)" : "allowed";
                    await output.WriteLineAsync($"{FlowTimes.Format(f.Started),-24} {f.SandboxId,-12} {f.Client ?? "-",-12} {f.ProtocolName,-5} {tuple,-47} {f.BytesSent,10} {f.BytesReceived,10} {decided}").ConfigureAwait(false);
                }

                return 0;
            }
            catch (Exception e) when (e is ContainmentException or FileNotFoundException or Microsoft.Data.Sqlite.SqliteException)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
        });
        return command;
    }

    private static object ToJson(FlowRecord f) => new
    {
        id = f.Id,
        started = FlowTimes.Format(f.Started),
        ended = f.Ended is { } e ? FlowTimes.Format(e) : null,
        sandbox = f.SandboxId,
        client = f.Client,
        direction = f.Direction == FlowDirection.In ? "in" : "out",
        protocol = f.ProtocolName,
        source = f.Source.ToString(),
        sourcePort = f.SourcePort,
        destination = f.Destination.ToString(),
        destinationPort = f.DestinationPort,
        bytesSent = f.BytesSent,
        bytesReceived = f.BytesReceived,
        packets = f.Packets,
        verdict = FlowStore.VerdictText(f.Verdict),
        rule = f.Rule,
    };

    /// <summary>An ISO 8601 time, or an age ("90s", "10m", "2h", "7d") counted back from <paramref name="now"/>.</summary>
    internal static DateTimeOffset ParseSince(string text, DateTimeOffset now)
    {
        var t = text.Trim();
        if (t.Length >= 2 && "smhd".Contains(char.ToLowerInvariant(t[^1]), StringComparison.Ordinal)
            && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            return now - (char.ToLowerInvariant(t[^1]) switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            });
        }

        if (DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        throw new ContainmentInputException($"--since '{text}' is neither a time (2026-12-02T03:00Z) nor an age (90s, 10m, 2h, 7d).");
    }
}
