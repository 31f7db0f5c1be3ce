using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Moat.Cli.Output;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Cli.Commands;

/// <summary>`moat sandbox …`: the life of a sandbox, through the host agent's API.</summary>
internal static class SandboxCommands
{
    public static Command Create()
    {
        var cmd = new Command("sandbox", """
            Create, run and remove isolated sandboxes on this host. Each sandbox has its own PID, mount, IPC, UTS and
            network namespaces, cgroup limits on memory, CPU and processes, a seccomp profile, a copy-on-write root
            over a read-only image, a routed /32 address and a /data volume that survives restarts.

            Examples:
              moat sandbox run --name web                     # claim a ready sandbox from the warm pool
              moat sandbox exec web -- sh -c 'echo hello'     # run code in it
              moat sandbox create --memory 64M -- sh -c 'while :; do date; sleep 1; done'
              moat sandbox logs <id>;  moat sandbox ls --json;  moat sandbox rm web
            """);
        cmd.Subcommands.Add(CreateOrRun("create", """
            Make a sandbox from scratch (cold) and start it, unless --no-start.
            Example: moat sandbox create --name job --memory 64M -- sh -c 'echo working; sleep 60'
            """, claim: false));
        cmd.Subcommands.Add(CreateOrRun("run", """
            Hand out a running sandbox: claimed from the warm pool when one is ready, made cold otherwise.
            Example: moat sandbox run --name web --memory 128M;  moat sandbox run --client stranger --json
            """, claim: true));
        cmd.Subcommands.Add(Simple("start", "Start a created or stopped sandbox (its root file system and volume are kept).\nExample: moat sandbox start web", (c, r, ct) => c.StartAsync(r, ct)));
        cmd.Subcommands.Add(Stop());
        cmd.Subcommands.Add(Simple("pause", "Freeze every process of a sandbox (cgroup freezer).\nExample: moat sandbox pause web", (c, r, ct) => c.PauseAsync(r, ct)));
        cmd.Subcommands.Add(Simple("resume", "Thaw a paused sandbox.\nExample: moat sandbox resume web", (c, r, ct) => c.ResumeAsync(r, ct)));
        cmd.Subcommands.Add(Remove());
        cmd.Subcommands.Add(Exec());
        cmd.Subcommands.Add(Logs());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Inspect());
        cmd.Subcommands.Add(ContainmentVerbs.Quarantine());
        cmd.Subcommands.Add(ContainmentVerbs.Allow());
        cmd.Subcommands.Add(EgressVerb.Create());
        cmd.Subcommands.Add(ContainmentVerbs.Evidence());
        return cmd;
    }

    private static Command CreateOrRun(string name, string description, bool claim)
    {
        var image = new Option<string>("--image") { Description = "Image name or digest prefix (see 'moat image ls').", DefaultValueFactory = _ => "busybox" };
        var sbName = new Option<string?>("--name") { Description = "A unique name to refer to the sandbox by." };
        var memory = new Option<string>("--memory") { Description = "Memory limit, e.g. 64M, 1G (swap is not allowed beyond it).", DefaultValueFactory = _ => "256M" };
        var cpus = new Option<double>("--cpus") { Description = "CPU limit in cores, e.g. 0.5.", DefaultValueFactory = _ => 1.0 };
        var pids = new Option<int>("--pids") { Description = "Maximum number of processes and threads.", DefaultValueFactory = _ => 512 };
        var disk = new Option<string?>("--disk") { Description = "Size of the sandbox's own disk (root file system writes, /data, console log), e.g. 2G. Default: the host's (moat host --disk)." };
        var env = new Option<string[]>("--env", "-e") { Description = "KEY=VALUE environment variable (repeatable)." };
        var client = new Option<string>("--client") { Description = "The client the sandbox is handed to.", DefaultValueFactory = _ => "local" };
        var noVolume = new Option<bool>("--no-volume") { Description = "Do not give the sandbox a persistent /data volume." };
        var noStart = new Option<bool>("--no-start") { Description = "Create only; start later with 'moat sandbox start'." };
        var tier = new Option<string?>("--tier") { Description = "Runtime tier: container, gvisor or vm. Default: what the host's policy gives the client's trust level; a weaker one is refused." };
        var trust = new Option<string?>("--trust") { Description = "Trust level to run at: trusted, semi-trusted or untrusted. Default: what the host's policy gives the client; asking for more is refused." };
        var clientAddress = new Option<string?>("--client-address") { Description = "The client's IPv4 address; an untrusted sandbox may reach it and nothing else unless a path is opened. Refused, since naming one would open a path to it: loopback, link-local (cloud metadata), multicast and reserved addresses, this host's own addresses, its sandbox pool (other sandboxes) and its LAN (unless the policy binds that address to the client under 'client-addresses'). e.g. --client-address 203.0.113.7" };
        var command = new Argument<string[]>("command") { Description = "Main command (after --). Without one the sandbox idles and you run code with exec.", Arity = ArgumentArity.ZeroOrMore };
        var c = new Command(name, description) { image, sbName, memory, cpus, pids, disk, env, client, noVolume, tier, trust, clientAddress, command };
        if (!claim)
        {
            c.Options.Add(noStart);
        }

        c.SetAction(async (p, ct) =>
        {
            var spec = new SandboxSpec
            {
                Image = p.GetValue(image)!,
                Name = p.GetValue(sbName),
                MemoryBytes = ParseSize(p.GetValue(memory)!, "--memory"),
                Cpus = p.GetValue(cpus),
                Pids = p.GetValue(pids),
                DiskBytes = p.GetValue(disk) is { } d ? ParseSize(d, "--disk") : null,
                Env = ParseEnv(p.GetValue(env)),
                Client = p.GetValue(client)!,
                Volume = !p.GetValue(noVolume),
                Command = p.GetValue(command) ?? [],
                Trust = p.GetValue(trust),
                ClientAddress = p.GetValue(clientAddress),
                Tier = p.GetValue(tier) is { } t ? (RuntimeTiers.TryParse(t, out var parsed) ? parsed
                    : throw new FormatException($"--tier '{t}' is not a runtime tier: use container, gvisor or vm.")) : null,
            };

            return await Call(p, async hc =>
            {
                var sw = Stopwatch.StartNew();
                Sandbox s;
                var fromPool = false;
                if (claim)
                {
                    var r = await hc.ClaimAsync(spec, ct);
                    (s, fromPool) = (r.Sandbox, r.FromPool);
                }
                else
                {
                    s = await hc.CreateAsync(spec, !p.GetValue(noStart), ct);
                }

                if (p.GetValue(CommonOptions.Json))
                {
                    Printer.Json(new { sandbox = s, fromPool, elapsedMs = sw.Elapsed.TotalMilliseconds });
                }
                else
                {
                    Console.Out.WriteLine($"{s.Id}  {s.DisplayName}  {s.State.ToString().ToLowerInvariant()}  {s.Address}  ({(claim ? (fromPool ? "warm pool, " : "cold, ") : "")}{sw.Elapsed.TotalMilliseconds:F1} ms)");
                }
            });
        });
        return c;
    }

    private static Command Simple(string name, string description, Func<HostClient, string, CancellationToken, Task<Sandbox>> action)
    {
        var target = new Argument<string[]>("sandbox") { Description = "Sandbox name or id (or a unique id prefix).", Arity = ArgumentArity.OneOrMore };
        var c = new Command(name, description) { target };
        c.SetAction((p, ct) => Call(p, async hc =>
        {
            foreach (var r in p.GetValue(target)!)
            {
                var s = await action(hc, r, ct);
                if (p.GetValue(CommonOptions.Json))
                {
                    Printer.Json(s);
                }
                else
                {
                    Console.Out.WriteLine($"{s.Id}  {s.State.ToString().ToLowerInvariant()}");
                }
            }
        }));
        return c;
    }

    private static Command Stop()
    {
        var grace = new Option<double>("--grace") { Description = "Seconds to wait after SIGTERM before SIGKILL.", DefaultValueFactory = _ => 10 };
        var target = new Argument<string[]>("sandbox") { Arity = ArgumentArity.OneOrMore, Description = "Sandbox name or id." };
        var c = new Command("stop", "Stop a sandbox's processes (SIGTERM, then SIGKILL after --grace); its files and volume stay.\nExample: moat sandbox stop web --grace 2") { grace, target };
        c.SetAction((p, ct) => Call(p, async hc =>
        {
            foreach (var r in p.GetValue(target)!)
            {
                var s = await hc.StopAsync(r, p.GetValue(grace), ct);
                Console.Out.WriteLine(p.GetValue(CommonOptions.Json) ? System.Text.Json.JsonSerializer.Serialize(s, HostClient.Json) : $"{s.Id}  stopped");
            }
        }));
        return c;
    }

    private static Command Remove()
    {
        var target = new Argument<string[]>("sandbox") { Arity = ArgumentArity.OneOrMore, Description = "Sandbox name or id." };
        var c = new Command("rm", "Destroy sandboxes: processes, network, root file system changes and volume are removed.\nExample: moat sandbox rm web job") { target };
        c.Aliases.Add("destroy");
        c.SetAction((p, ct) => Call(p, async hc =>
        {
            foreach (var r in p.GetValue(target)!)
            {
                await hc.DestroyAsync(r, ct);
                if (!p.GetValue(CommonOptions.Json))
                {
                    Console.Out.WriteLine($"{r}  destroyed");
                }
            }
        }));
        return c;
    }

    private static Command Exec()
    {
        var tty = new Option<bool>("--tty", "-t") { Description = "Give the command a terminal (interactive shells)." };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Attach your stdin (implied by --tty)." };
        var env = new Option<string[]>("--env", "-e") { Description = "KEY=VALUE environment variable (repeatable)." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds before a non-interactive command is killed.", DefaultValueFactory = _ => 60 };
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var command = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "Command and arguments, after --." };
        var c = new PassThroughCommand("exec", """
            Run a command inside a running sandbox. Without -t/-i the output is collected and printed, and moat exits
            with the command's exit code (125 when moat itself failed: no agent, no such sandbox); with -t you get a
            terminal attached to it. It returns when the command exits, even if the command left background processes.

            Examples:  moat sandbox exec web -- uname -a
                       moat sandbox exec -t web -- sh
            """) { tty, interactive, env, timeout, target, command };
        c.SetAction(async (p, ct) =>
        {
            var cmdline = p.GetValue(command) ?? [];
            using var hc = new HostClient(CommonOptions.SocketPath(p));
            if (p.GetValue(tty) || p.GetValue(interactive))
            {
                var argv = await hc.InteractiveAsync(p.GetValue(target)!, cmdline, p.GetValue(tty), ct);
                var psi = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
                foreach (var a in argv.Skip(1))
                {
                    psi.ArgumentList.Add(a);
                }

                using var proc = Process.Start(psi)!;
                await proc.WaitForExitAsync(ct);
                return proc.ExitCode;
            }

            if (cmdline.Length == 0)
            {
                throw new MoatException(ErrorKind.Invalid, "exec needs a command after --, e.g. moat sandbox exec web -- uname -a");
            }

            var r = await hc.ExecAsync(p.GetValue(target)!, cmdline, ParseEnv(p.GetValue(env)), p.GetValue(timeout), ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
            }
            else
            {
                Console.Out.Write(r.Stdout);
                Console.Error.Write(r.Stderr);
            }

            return r.ExitCode;
        });
        return c;
    }

    private static Command Logs()
    {
        var tail = new Option<int>("--tail") { Description = "Show at most this many bytes from the end.", DefaultValueFactory = _ => 65536 };
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var c = new Command("logs", "Print what the sandbox's main command wrote to stdout and stderr.\nExample: moat sandbox logs job --tail 4096") { tail, target };
        c.SetAction((p, ct) => Call(p, async hc => Console.Out.Write(await hc.LogsAsync(p.GetValue(target)!, p.GetValue(tail), ct))));
        return c;
    }

    private static Command List()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Also list the warm pool's unclaimed sandboxes." };
        var c = new Command("ls", "List this host's sandboxes.\nExample: moat sandbox ls --all --json") { all };
        c.Aliases.Add("list");
        c.SetAction((p, ct) => Call(p, async hc =>
        {
            var list = (await hc.ListAsync(ct)).Where(s => p.GetValue(all) || s.PoolImage is null).ToList();
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(list);
                return;
            }

            Printer.Table(["ID", "NAME", "STATE", "TIER", "ADDRESS", "IMAGE", "MEMORY", "CPUS", "CLIENT", "CREATED"],
                list.Select(s => (IReadOnlyList<string>)[
                    s.Id, s.Name ?? (s.PoolImage is null ? "-" : "(pool)"), s.State.ToString().ToLowerInvariant(), s.Tier.Name(), s.Address ?? "-",
                    s.Spec.Image, $"{s.Spec.MemoryBytes / SandboxSpec.MiB}M", s.Spec.Cpus.ToString(CultureInfo.InvariantCulture),
                    s.Spec.Client, s.CreatedAt.ToString("u", CultureInfo.InvariantCulture)]));
        }));
        return c;
    }

    private static Command Inspect()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var c = new Command("inspect", "Everything about one sandbox: spec, state, address, and the names of its kernel objects.\nExample: moat sandbox inspect web --json") { target };
        c.SetAction((p, ct) => Call(p, async hc =>
        {
            var d = await hc.InspectAsync(p.GetValue(target)!, ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(d);
                return;
            }

            var s = d.Sandbox;
            Console.Out.WriteLine($"""
                id:        {s.Id}
                name:      {s.Name ?? "-"}
                state:     {StateLine(d)}
                runtime:   {d.Runtime} (tier: {d.Tier.Name()})
                exec monitoring: {d.ExecMonitoring}
                image:     {s.Spec.Image} ({s.ImageDigest[..Math.Min(12, s.ImageDigest.Length)]})
                address:   {s.Address ?? "-"}
                client:    {s.Spec.Client}
                limits:    memory {s.Spec.MemoryBytes / SandboxSpec.MiB} MiB, cpus {s.Spec.Cpus.ToString(CultureInfo.InvariantCulture)}, pids {s.Spec.Pids}
                command:   {(s.Spec.Command.Count == 0 ? "(idle init)" : string.Join(' ', s.Spec.Command))}
                netns:     {d.Netns}  host interface: {d.HostInterface}
                cgroup:    {d.Cgroup}
                rootfs:    {d.Rootfs}
                volume:    {d.Volume ?? "-"}
                created:   {s.CreatedAt:u}
                """);
            if (d.Tunnel is { } t)
            {
                Console.Out.WriteLine($"""
                    tunnel:    VXLAN {t.Vni} from {t.HostAddress} to client {t.ClientAddress}{(t.Direct.Count == 0 ? "" : $"; direct to {string.Join(", ", t.Direct)}")}
                               the client runs: {t.ClientCommand}
                    """);
            }
        }));
        return c;
    }

    /// <summary>The stored state with what the runtime says now: a sandbox whose main process ended shows as exited, and
    /// one the kernel stopped at its memory limit says so.</summary>
    internal static string StateLine(SandboxDetails d)
    {
        var state = d.Sandbox.State == SandboxState.Running && d.RuntimeStatus == "stopped" ? "exited" : d.Sandbox.State.ToString().ToLowerInvariant();
        var oom = d.OomKills > 0
            ? $"; out of memory: the kernel killed {d.OomKills} of its processes at its {d.Sandbox.Spec.MemoryBytes / SandboxSpec.MiB} MiB limit"
            : "";
        return $"{state} (runtime: {d.RuntimeStatus}, pid {d.Pid}){oom}";
    }

    /// <summary>The id of a sandbox the local agent knows by this name or id; null when the agent is not running or
    /// knows no such sandbox (a destroyed sandbox's flows are still found by its id).</summary>
    internal static async Task<string?> TryResolveIdAsync(string reference, CancellationToken ct)
    {
        var socket = Path.Combine(CommonOptions.DefaultStateDir, "agent.sock");
        if (!File.Exists(socket))
        {
            return null;
        }

        using var hc = new HostClient(socket);
        try
        {
            return (await hc.InspectAsync(reference, ct)).Sandbox.Id;
        }
        catch (Exception e) when (e is HostApiException or HttpRequestException or IOException)
        {
            return null;
        }
    }

    /// <summary>Runs an API call against the agent; its refusal or absence is the top-level error path's to report
    /// (<see cref="Failure"/>).</summary>
    internal static async Task<int> Call(ParseResult p, Func<HostClient, Task> body)
    {
        using var hc = new HostClient(CommonOptions.SocketPath(p));
        await body(hc);
        return ExitCodes.Ok;
    }

    internal static long ParseSize(string text, string option = "size")
    {
        var t = text.Trim().ToUpperInvariant().Replace("IB", "", StringComparison.Ordinal).TrimEnd('B');
        long mult = 1;
        if (t.Length > 0 && "KMGT".Contains(t[^1], StringComparison.Ordinal))
        {
            mult = t[^1] switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v <= 0)
        {
            throw new FormatException($"{option} '{text}' is not valid: give a number with an optional K, M, G or T suffix, e.g. 256M.");
        }

        return (long)(v * mult);
    }

    internal static Dictionary<string, string> ParseEnv(string[]? entries)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in entries ?? [])
        {
            var eq = e.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"environment entry '{e}' is not KEY=VALUE.");
            }

            d[e[..eq]] = e[(eq + 1)..];
        }

        return d;
    }
}
