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
            Description = "The source host: a local agent's state folder (its socket is agent.sock there), or a host's JID on the XMPP fabric. Default: $MOAT_STATE_DIR or /var/lib/moat.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat",
        };
        var to = new Option<string>("--to") { Description = "The destination host: a state folder or a JID, as --from.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the relocation report as JSON." };
        var account = new HostTargets.FabricAccount();
        var command = new Command("relocate", """
            Move a running sandbox to another host agent now (RELOCATE's move, by hand): the destination reserves a
            stopped copy first (a full or unreachable destination refuses before anything stops), then the source
            stops, its writable layer and volume are streamed across, the copy starts and answers, and the source is
            destroyed. A failure at any step puts the sandbox back running on the source. A gvisor-tier sandbox moves
            live (runsc checkpoints it and the destination restores it, processes and memory kept) when both hosts can
            and runsc accepts (it refuses while a TCP connection of the sandbox is open); otherwise the move is cold,
            and the report says why (container-tier live moves need CRIU, which this host's kernel defeats).
            A host is a local agent's state folder, or a host's JID on the XMPP fabric (another machine, or behind NAT):
            then give your own fabric account with --xmpp and --xmpp-password-file; each such host must list it with
            --xmpp-admin, and the state travels through the XMPP server as in-band bytestreams.
            The sandbox's address changes with its host; a stable service address (VIP) follows it when relocations
            are driven by a front (see docs/mtd.md).
            Exit: 0 moved, 1 rolled back or stranded (the report says which step failed), 2 bad input.
            Example: moat mtd relocate web --to /var/lib/moat-b
                     moat mtd relocate web --from host-a@moat.test --to host-b@moat.test --xmpp mtd@moat.test --xmpp-password-file mtd.pw
            """) { sandbox, from, to, json };
        account.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            RelocationReport report;
            try
            {
                await using var targets = await HostTargets.OpenAsync([parse.GetValue(from)!, parse.GetValue(to)!], account, parse, ct).ConfigureAwait(false);
                report = await new RelocationCoordinator().RelocateAsync(parse.GetValue(sandbox)!, targets.Hosts[0], targets.Hosts[1], cancellationToken: ct).ConfigureAwait(false);
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
