using System.CommandLine;
using Moat.Cli.Output;
using Moat.Host;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;
using Moat.Xmpp;

namespace Moat.Cli.Commands;

/// <summary>`moat fabric`: the control plane's view of hosts on the XMPP fabric, and sandbox operations sent to them as IQs.</summary>
internal static class FabricCommands
{
    /// <summary>The options `moat host` takes to join the fabric.</summary>
    internal sealed class HostOptions
    {
        public Option<string?> Jid { get; } = new("--xmpp") { Description = "Join the XMPP fabric as this account (user@domain): sandbox operations arrive as IQs, status goes out as presence." };

        public Option<string> Server { get; } = new("--xmpp-server") { Description = "XMPP server to dial, host:port.", DefaultValueFactory = _ => "127.0.0.1:5222" };

        public Option<string?> PasswordFile { get; } = new("--xmpp-password-file") { Description = "File holding the host account's password." };

        public Option<string[]> Allow { get; } = new("--xmpp-allow") { Description = "Bare JID allowed to claim sandboxes over the fabric and drive its own (repeatable)." };

        public Option<string[]> Admins { get; } = new("--xmpp-admin") { Description = "Bare JID allowed to drive every sandbox of this host over the fabric, whoever it was handed to (repeatable)." };

        public void AddTo(Command command)
        {
            command.Options.Add(Jid);
            command.Options.Add(Server);
            command.Options.Add(PasswordFile);
            command.Options.Add(Allow);
            command.Options.Add(Admins);
        }

        /// <summary>The fabric settings, or null when --xmpp is not given; validated by the agent at start.</summary>
        public FabricOptions? Read(ParseResult p)
        {
            var jid = p.GetValue(Jid);
            return jid is null ? null : new FabricOptions
            {
                Jid = jid,
                Server = p.GetValue(Server)!,
                PasswordFile = Path.GetFullPath(p.GetValue(PasswordFile) ?? throw new InvalidRequestException("--xmpp needs --xmpp-password-file: the file holding the host account's password.")),
                Allow = p.GetValue(Allow) ?? [],
                Admins = p.GetValue(Admins) ?? [],
            };
        }
    }

    public static Command Create()
    {
        var jid = new Option<string>("--xmpp") { Description = "Your fabric account (user@domain); hosts must allow it (moat host --xmpp-allow).", Required = true };
        var server = new Option<string>("--xmpp-server") { Description = "XMPP server to dial, host:port.", DefaultValueFactory = _ => "127.0.0.1:5222" };
        var passwordFile = new Option<string>("--xmpp-password-file") { Description = "File holding your account's password.", Required = true };
        var root = new Command("fabric", """
            Hosts on the XMPP fabric: see them through their presence and drive their sandboxes with IQ requests, even when
            they sit behind NAT (they dial out to the server).

            Example:  moat fabric hosts --watch host@moat.test --xmpp admin@moat.test --xmpp-password-file admin.pw
                      moat fabric sandbox claim host@moat.test --xmpp admin@moat.test --xmpp-password-file admin.pw
            """);
        root.Options.Add(jid);
        root.Options.Add(server);
        root.Options.Add(passwordFile);
        jid.Recursive = server.Recursive = passwordFile.Recursive = true;

        async Task<int> WithClientAsync(ParseResult p, CancellationToken ct, Func<FabricClient, Task<int>> body)
        {
            await using var client = await FabricClient.OpenAsync(p.GetValue(jid)!, p.GetValue(server)!, FabricOptions.ReadPassword(p.GetValue(passwordFile)!), cancellationToken: ct);
            return await body(client);
        }

        var watch = new Option<string[]>("--watch") { Description = "Subscribe to this host's presence first (the host grants it to allow-listed JIDs; the server keeps it)." };
        var wait = new Option<double>("--wait") { Description = "Seconds to collect presence before printing.", DefaultValueFactory = _ => 2 };
        var hosts = new Command("hosts", "List the hosts whose presence you see: sandboxes running, warm pool ready/target, free memory.\nExample: moat fabric hosts --wait 2 --json") { watch, wait };
        hosts.SetAction((p, ct) => WithClientAsync(p, ct, async client =>
        {
            foreach (var h in p.GetValue(watch) ?? [])
            {
                await client.WatchAsync(h, ct);
            }

            // Presence arrives as the server delivers it; collect for the given time, ending early once every watched host is seen.
            var watched = p.GetValue(watch) ?? [];
            var deadline = DateTime.UtcNow.AddSeconds(p.GetValue(wait));
            while (DateTime.UtcNow < deadline && (watched.Length == 0 || !watched.All(w => client.Hosts.Any(h => h.Jid.StartsWith(w + "/", StringComparison.OrdinalIgnoreCase)))))
            {
                await Task.Delay(50, ct);
            }

            var list = client.Hosts.OrderBy(h => h.Jid, StringComparer.Ordinal).ToList();
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(list);
                return 0;
            }

            Printer.Table(["HOST", "SANDBOXES", "POOL", "FREE MEMORY", "VERSION"],
                list.Select(h => (IReadOnlyList<string>)[h.Jid, h.Sandboxes.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{h.PoolReady}/{h.PoolTarget}", $"{h.FreeMemoryMb} MiB", h.Version]));
            return 0;
        }));
        root.Subcommands.Add(hosts);
        root.Subcommands.Add(SandboxCommand(WithClientAsync));
        return root;
    }

    private static Command SandboxCommand(Func<ParseResult, CancellationToken, Func<FabricClient, Task<int>>, Task<int>> withClient)
    {
        var sandbox = new Command("sandbox", "Sandbox operations on a host over the fabric (IQ requests): claim, exec, ls, inspect, rm.");
        Argument<string> HostArg() => new("HOST") { Description = "The host's JID (user@domain, or user@domain/resource)." };
        Argument<string> RefArg() => new("SANDBOX") { Description = "Sandbox id or name." };

        var claimHost = HostArg();
        var image = new Option<string>("--image") { Description = "Image.", DefaultValueFactory = _ => "busybox" };
        var memory = new Option<string>("--memory") { Description = "Memory limit, e.g. 128M.", DefaultValueFactory = _ => "256M" };
        var cpus = new Option<double>("--cpus") { Description = "CPU limit in cores.", DefaultValueFactory = _ => 1.0 };
        var name = new Option<string?>("--name") { Description = "Name for the sandbox." };
        var claim = new Command("claim", "Claim a sandbox from the host's warm pool (created cold if the pool is empty); it is handed to your JID.\nExample: moat fabric sandbox claim host-a@moat.test --name web") { claimHost, image, memory, cpus, name };
        claim.SetAction((p, ct) => withClient(p, ct, async c =>
        {
            var spec = new SandboxSpec { Image = p.GetValue(image)!, MemoryBytes = SandboxCommands.ParseSize(p.GetValue(memory)!, "--memory"), Cpus = p.GetValue(cpus), Name = p.GetValue(name) };
            var r = await c.ClaimAsync(p.GetValue(claimHost)!, spec, ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
            }
            else
            {
                Console.Out.WriteLine($"{r.Sandbox.Id} {r.Sandbox.Name} {r.Sandbox.Address} ({(r.FromPool ? "warm pool" : "cold")}, {r.ElapsedMs:F1} ms on the host)");
            }

            return 0;
        }));

        var execHost = HostArg();
        var execRef = RefArg();
        var command = new Argument<string[]>("COMMAND") { Description = "Command and arguments (after --).", Arity = ArgumentArity.OneOrMore };
        var timeout = new Option<double>("--timeout") { Description = "Seconds before the command is killed.", DefaultValueFactory = _ => 60 };
        var exec = new Command("exec", "Run a command in a sandbox on the host; prints its output and exits with its code.\nExample: moat fabric sandbox exec host-a@moat.test web -- uname -a") { execHost, execRef, command, timeout };
        exec.SetAction((p, ct) => withClient(p, ct, async c =>
        {
            var r = await c.ExecAsync(p.GetValue(execHost)!, p.GetValue(execRef)!, p.GetValue(command)!, p.GetValue(timeout), ct);
            Console.Out.Write(r.Stdout);
            Console.Error.Write(r.Stderr);
            return r.ExitCode;
        }));

        var lsHost = HostArg();
        var ls = new Command("ls", "List the host's sandboxes.\nExample: moat fabric sandbox ls host-a@moat.test --json") { lsHost };
        ls.SetAction((p, ct) => withClient(p, ct, async c =>
        {
            var list = await c.ListAsync(p.GetValue(lsHost)!, ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(list);
                return 0;
            }

            Printer.Table(["ID", "NAME", "STATE", "ADDRESS", "CLIENT"], list.Select(s => (IReadOnlyList<string>)[s.Id, s.Name ?? "", s.State.ToString(), s.Address ?? "", s.Spec.Client]));
            return 0;
        }));

        var inspectHost = HostArg();
        var inspectRef = RefArg();
        var inspect = new Command("inspect", "Show a sandbox on the host (JSON).\nExample: moat fabric sandbox inspect host-a@moat.test web") { inspectHost, inspectRef };
        inspect.SetAction((p, ct) => withClient(p, ct, async c =>
        {
            Printer.Json(await c.InspectAsync(p.GetValue(inspectHost)!, p.GetValue(inspectRef)!, ct));
            return 0;
        }));

        var rmHost = HostArg();
        var rmRef = RefArg();
        var rm = new Command("rm", "Destroy a sandbox on the host.\nExample: moat fabric sandbox rm host-a@moat.test web") { rmHost, rmRef };
        rm.SetAction((p, ct) => withClient(p, ct, async c =>
        {
            await c.DestroyAsync(p.GetValue(rmHost)!, p.GetValue(rmRef)!, ct);
            Console.Out.WriteLine($"removed {p.GetValue(rmRef)}");
            return 0;
        }));

        foreach (var c in new[] { claim, exec, ls, inspect, rm })
        {
            sandbox.Subcommands.Add(c);
        }

        return sandbox;
    }
}
