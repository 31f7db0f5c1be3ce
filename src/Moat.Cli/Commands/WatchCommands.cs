using System.CommandLine;
using Moat.Cli.Output;

namespace Moat.Cli.Commands;

/// <summary>`moat alerts` and `moat sandbox release`: what the host's watchers saw and did, and an operator's undo.</summary>
internal static class WatchCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Subcommands.Add(Alerts());
        root.Subcommands.First(c => c.Name == "sandbox").Subcommands.Add(Release());
    }

    private static Command Alerts()
    {
        var sandbox = new Option<string?>("--sandbox") { Description = "Only this sandbox id." };
        var limit = new Option<int>("--limit") { Description = "At most this many of each kind (default 1000).", DefaultValueFactory = _ => 1000 };
        var c = new Command("alerts", """
            Alerts the host agent raised about its sandboxes, and what it did about them: network detectors (scans,
            floods, spam fan-out) with their evidence and the response policy's action (record, throttle, quarantine,
            kill), and exec rules (drift, shells in job sandboxes, programs from /tmp).
            Example: moat alerts;  moat alerts --sandbox 3f9a1c2b7d --json;  moat sandbox release 3f9a1c2b7d
            """) { sandbox, limit };
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
        {
            if (p.GetValue(limit) <= 0)
            {
                throw new MoatException(ErrorKind.Invalid, $"--limit {p.GetValue(limit)} is not positive; give 1 or more.");
            }

            var report = await hc.AlertsAsync(p.GetValue(sandbox), p.GetValue(limit), ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(report);
                return;
            }

            Console.Out.WriteLine("network alerts");
            Printer.Table(["ID", "TIME", "SANDBOX", "DETECTOR", "TARGET", "EVIDENCE", "MESSAGE"], report.Network.Select(a => (IReadOnlyList<string>)
                [a.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Time.ToString("u", System.Globalization.CultureInfo.InvariantCulture), a.SandboxId, a.Detector, a.Target,
                 string.Join(",", a.Evidence.Select(kv => $"{kv.Key}={kv.Value}")), a.Message]));
            Console.Out.WriteLine();
            Console.Out.WriteLine("responses");
            Printer.Table(["ID", "ALERT", "SANDBOX", "TRUST", "ACTION", "STATE", "OUTCOME"], report.Responses.Select(r => (IReadOnlyList<string>)
                [r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), r.AlertId.ToString(System.Globalization.CultureInfo.InvariantCulture), r.SandboxId, r.Trust, r.Action,
                 r.RevertedAt is { } at ? $"released by {r.RevertedBy} {at:u}" : r.InForce ? "in force" : "-", r.Outcome]));
            Console.Out.WriteLine();
            Console.Out.WriteLine("exec alerts");
            Printer.Table(["TIME", "SANDBOX", "PRIORITY", "RULE", "PID", "PATH"], report.Exec.Select(a => (IReadOnlyList<string>)
                [a.Time.ToString("u", System.Globalization.CultureInfo.InvariantCulture), a.SandboxId, a.Priority, a.Rule, a.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Path ?? "?"]));
        }));
        return c;
    }

    private static Command Release()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var by = new Option<string>("--by") { Description = "Who releases it (kept in the record).", DefaultValueFactory = _ => Environment.UserName };
        var c = new Command("release", """
            Undo every response in force for a sandbox (lift its quarantine or throttle; a killed sandbox is then
            started with 'moat sandbox start'). The records stay, marked released by whom and when.
            Example: moat sandbox release 3f9a1c2b7d --by alice
            """) { target, by };
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
        {
            var released = await hc.ReleaseAsync(p.GetValue(target)!, p.GetValue(by)!, ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(released);
                return;
            }

            foreach (var r in released)
            {
                Console.Out.WriteLine($"response {r.Id} ({r.Action} of {r.SandboxId}) released by {r.RevertedBy}");
            }
        }));
        return c;
    }
}
