using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Cli;

/// <summary>`moat mtd relocate`: moves one running sandbox from one host agent to another, now.</summary>
public static class RelocateCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static Command Create()
    {
        var sandbox = new Argument<string>("sandbox") { Description = "The sandbox's name or id on the source host." };
        var from = new Option<string>("--from")
        {
            Description = "The source host agent's state folder (its socket is agent.sock there). Default: $MOAT_STATE_DIR or /var/lib/moat.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat",
        };
        var to = new Option<string>("--to") { Description = "The destination host agent's state folder.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the relocation report as JSON." };
        var command = new Command("relocate", """
            Move a running sandbox to another host agent now (RELOCATE's move, by hand): the destination reserves a
            stopped copy first (a full or unreachable destination refuses before anything stops), then the source
            stops, its writable layer and volume are streamed across, the copy starts and answers, and the source is
            destroyed. A failure at any step puts the sandbox back running on the source. Live migration is used where
            both hosts pass `criu check`; otherwise the move is cold, and the report says why.
            The sandbox's address changes with its host; a stable service address (VIP) follows it when relocations
            are driven by a front (see docs/mtd.md).
            Exit: 0 moved, 1 rolled back or stranded (the report says which step failed), 2 bad input.
            Example: moat mtd relocate web --to /var/lib/moat-b
            """) { sandbox, from, to, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var source = Path.GetFullPath(parse.GetValue(from)!);
            var destination = Path.GetFullPath(parse.GetValue(to)!);
            foreach (var dir in new[] { source, destination })
            {
                if (!File.Exists(Path.Combine(dir, "agent.sock")))
                {
                    await error.WriteLineAsync($"no host agent runs on {dir} (it has no agent.sock); start one with 'moat host --state-dir {dir}'.").ConfigureAwait(false);
                    return 2;
                }
            }

            if (source == destination)
            {
                await error.WriteLineAsync($"--from and --to are the same host ({source}); name another host's state folder with --to.").ConfigureAwait(false);
                return 2;
            }

            using var a = new AgentRelocationHost(source, Path.Combine(source, "agent.sock"));
            using var b = new AgentRelocationHost(destination, Path.Combine(destination, "agent.sock"));
            RelocationReport report;
            try
            {
                report = await new RelocationCoordinator().RelocateAsync(parse.GetValue(sandbox)!, a, b, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (MtdException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(report, Json)).ConfigureAwait(false);
            }
            else
            {
                await output.WriteLineAsync(Describe(report)).ConfigureAwait(false);
            }

            return report.Succeeded ? 0 : 1;
        });
        return command;
    }

    private static string Describe(RelocationReport r)
    {
        var c = CultureInfo.InvariantCulture;
        var how = r.Mode == MigrationMode.Cold ? $"cold{(r.LiveUnavailable is null ? "" : $" (live unavailable: {r.LiveUnavailable})")}" : "live";
        var line = r.Succeeded
            ? string.Create(c, $"moved {r.Sandbox} from {r.From} to {r.To}: {how}; {r.BytesMoved:N0} bytes; downtime {r.Downtime.TotalMilliseconds:F1} ms, total {r.Total.TotalMilliseconds:F1} ms; address {r.OldAddress} -> {r.NewAddress} (id {r.DestinationId})")
            : $"{r.Outcome.ToString().ToLowerInvariant()}: {r.Sandbox} stays on {r.From}: {r.Failure}";
        return r.Warnings.Count == 0 ? line : line + Environment.NewLine + string.Join(Environment.NewLine, r.Warnings.Select(w => "warning: " + w));
    }
}
