using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Monitor.Inventory;
using Moat.Monitor.Store;
using Moat.Monitor.Vulnerabilities;

namespace Moat.Monitor.Cli;

/// <summary>The <c>moat monitor</c> verbs: what ran in sandboxes, what applications they hold, which are vulnerable.</summary>
public static class MonitorCommands
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public static Command Create()
    {
        var monitor = new Command("monitor", "Show what ran inside sandboxes, as recorded by the host's exec monitor.");
        monitor.Subcommands.Add(Events());
        monitor.Subcommands.Add(InventoryCommand());
        monitor.Subcommands.Add(Vulns());
        return monitor;
    }

    private static Option<string> DbOption() => new("--db")
    {
        Description = "Path of the monitor's SQLite store; default: the host agent's (monitor.db in MOAT_STATE_DIR or /var/lib/moat).",
        DefaultValueFactory = _ => Path.Combine(Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat", "monitor.db"),
    };

    private static Option<string?> SandboxOption() => new("--sandbox") { Description = "Only this sandbox id." };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON instead of a table." };

    private static Command Events()
    {
        var command = new Command("events", """
            List exec records (every program run, with hash, package, verification status), gaps (events the kernel
            lost) and alerts, oldest first.
            Example: moat monitor events --db monitor.db --sandbox sb-42 --since 2026-11-22T06:00:00Z
            """);
        var db = DbOption();
        var sandbox = SandboxOption();
        var json = JsonOption();
        var since = new Option<string?>("--since") { Description = "Only events at or after this UTC time (ISO 8601)." };
        var limit = new Option<int>("--limit") { Description = "At most this many events (default 1000).", DefaultValueFactory = _ => 1000 };
        command.Options.Add(db);
        command.Options.Add(sandbox);
        command.Options.Add(since);
        command.Options.Add(limit);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            DateTimeOffset? from = null;
            if (parse.GetValue(since) is { } text)
            {
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                {
                    return Fail($"--since '{text}' is not a time; give an ISO 8601 time such as 2026-11-22T06:00:00Z.");
                }

                from = parsed;
            }

            if (parse.GetValue(limit) <= 0)
            {
                return Fail($"--limit {parse.GetValue(limit)} is not positive; give a number of events of 1 or more.");
            }

            var (store, error) = await OpenAsync(parse.GetValue(db)!, ct).ConfigureAwait(false);
            if (store is null)
            {
                return Fail(error!);
            }

            await using (store)
            {
                var events = await store.EventsAsync(new MonitorQuery(parse.GetValue(sandbox), from, parse.GetValue(limit)), ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(events.Select(e => new { kind = Kind(e), @event = (object)e }), Json));
                    return 0;
                }

                foreach (var e in events)
                {
                    Console.Out.WriteLine(e switch
                    {
                        ExecRecord r => $"{r.Time:O} exec  {r.SandboxId} pid {r.Pid} {r.Path ?? "?"} {Short(r.Sha256)} {r.PackageName}{(r.PackageVersion is null ? "" : " " + r.PackageVersion)}"
                            + $"{(r.Script is null ? "" : $" script {r.Script}")}{(r.Drift == true ? " DRIFT" : "")} [{r.Verification}]{(r.Runtime is null ? "" : " RUNTIME")}",
                        GapRecord g => $"{g.Time:O} GAP   {g.SandboxId ?? "all sandboxes"} {g.Source}: {g.Detail}",
                        AlertRecord a => $"{a.Time:O} ALERT {a.SandboxId} {a.Priority} {a.Rule} pid {a.Pid} {a.Path}: {a.Description}",
                        _ => e.ToString(),
                    });
                }

                return 0;
            }
        });
        return command;
    }

    private static Command InventoryCommand()
    {
        var command = new Command("inventory", """
            Per sandbox, every application (binary content at a path, or script) that has run, with the package and
            version that owns it in the sandbox's image, how often it ran, and whether it drifted from the image.
            Example: moat monitor inventory --db monitor.db --sandbox sb-42 --json
            """);
        var db = DbOption();
        var sandbox = SandboxOption();
        var json = JsonOption();
        command.Options.Add(db);
        command.Options.Add(sandbox);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            var (inventory, error) = await LoadInventoryAsync(parse.GetValue(db)!, parse.GetValue(sandbox), ct).ConfigureAwait(false);
            if (inventory is null)
            {
                return Fail(error!);
            }

            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(inventory, Json));
                return 0;
            }

            Console.Out.WriteLine("sandbox\tkind\tpath\tpackage\tversion\tsha256\truns\tdrift");
            foreach (var e in inventory)
            {
                Console.Out.WriteLine($"{e.SandboxId}\t{e.Kind}\t{e.Path}\t{e.Package ?? "-"}\t{e.Version ?? "-"}\t{Short(e.Sha256)}\t{e.Executions}\t{(e.Drift ? "yes" : "no")}");
            }

            return 0;
        });
        return command;
    }

    private static Command Vulns()
    {
        var command = new Command("vulns", """
            Match the packages of applications that have run against OSV advisories in a local folder (e.g. an
            unpacked https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip).
            Example: moat monitor vulns --db monitor.db --osv /var/lib/moat/osv/Debian
            """);
        var db = DbOption();
        var sandbox = SandboxOption();
        var json = JsonOption();
        var osv = new Option<string>("--osv") { Description = "Folder of OSV advisory JSON files.", Required = true };
        command.Options.Add(db);
        command.Options.Add(osv);
        command.Options.Add(sandbox);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            IReadOnlyList<OsvAdvisory> advisories;
            advisories = OsvDatabase.LoadFolder(parse.GetValue(osv)!);

            var (inventory, error) = await LoadInventoryAsync(parse.GetValue(db)!, parse.GetValue(sandbox), ct).ConfigureAwait(false);
            if (inventory is null)
            {
                return Fail(error!);
            }

            var matches = new VulnerabilityMatcher(advisories).Match(inventory).ToList();
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(matches, Json));
                return 0;
            }

            Console.Out.WriteLine("sandbox\tpackage\tversion\tadvisory\tfixed in\tsummary");
            foreach (var m in matches)
            {
                Console.Out.WriteLine($"{m.SandboxId}\t{m.Package}\t{m.Version}\t{m.AdvisoryId}\t{m.FixedIn ?? "-"}\t{m.Summary}");
            }

            return 0;
        });
        return command;
    }

    private static async Task<(IReadOnlyList<InventoryEntry>? Inventory, string? Error)> LoadInventoryAsync(string db, string? sandbox, CancellationToken ct)
    {
        var (store, error) = await OpenAsync(db, ct).ConfigureAwait(false);
        if (store is null)
        {
            return (null, error);
        }

        await using (store)
        {
            var events = await store.EventsAsync(new MonitorQuery(sandbox, null, int.MaxValue), ct).ConfigureAwait(false);
            // The OCI runtime's own execs (runc init, recorded by the host agent as such) are not the tenant's applications.
            return (InventoryBuilder.Build(events.OfType<ExecRecord>().Where(r => r.Runtime is null)), null);
        }
    }

    private static async Task<(SqliteMonitorStore? Store, string? Error)> OpenAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new MonitorException($"--db '{path}' does not exist; give the path of the monitor's SQLite store.", ErrorKind.NotFound);
        }

        return (await SqliteMonitorStore.OpenAsync(path, ct).ConfigureAwait(false), null);
    }

    private static string Kind(MonitorEvent e) => e switch { ExecRecord => "exec", GapRecord => "gap", AlertRecord => "alert", _ => "other" };

    private static string Short(string? sha) => sha is null ? "-" : sha.Length <= 12 ? sha : sha[..12];

    private static int Fail(string message) => throw new MonitorException(message, ErrorKind.Invalid);
}
