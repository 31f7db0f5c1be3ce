using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Moat.Control.Api;
using Moat.Control.Store;

namespace Moat.Control.Cli;

/// <summary>The 'moat control' verbs: run the control plane, and manage its clients and keys in its store.</summary>
public static class ControlCommands
{
    /// <summary>The control plane's folder when --state-dir is not given: $MOAT_CONTROL_DIR, else /var/lib/moat-control.</summary>
    public static string DefaultStateDir => Environment.GetEnvironmentVariable("MOAT_CONTROL_DIR") ?? "/var/lib/moat-control";

    /// <param name="stateDir">The root's --state-dir; when it is not given, the control plane's own default folder is used.</param>
    /// <param name="json">The root's --json.</param>
    public static Command Create(Option<string> stateDir, Option<bool> json)
    {
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to serve the API on; plain HTTP on loopback only, TLS elsewhere.", DefaultValueFactory = _ => "127.0.0.1:7443" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) for TLS, e.g. one 'moat pki' issued." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var jid = new Option<string?>("--xmpp") { Description = "Join the XMPP fabric as this account (user@domain); each host names it with --xmpp-admin." };
        var server = new Option<string>("--xmpp-server") { Description = "XMPP server to dial, host:port.", DefaultValueFactory = _ => "127.0.0.1:5222" };
        var password = new Option<string?>("--xmpp-password-file") { Description = "File holding the account's password (kept out of argv)." };
        var hosts = new Option<string[]>("--host") { Description = "A host agent's bare JID to follow (repeatable)." };
        var rate = new Option<int>("--rate-limit") { Description = "Requests per second each key may make.", DefaultValueFactory = _ => 200 };

        var cmd = new Command("control", """
            Run the control plane: an HTTP API (/v1/…, OpenAPI at /openapi/v1.json, Prometheus at /metrics) that reaches
            host agents only over the XMPP fabric. At first start it makes an administrator key and writes it, 0600, to
            <state-dir>/admin.key; the key is never logged.

            Example:  moat control --listen 127.0.0.1:7443 --state-dir /var/lib/moat-control \
                        --xmpp control@moat.test --xmpp-password-file control.pw --host host1@moat.test
                      curl -H "Authorization: Bearer $(cat /var/lib/moat-control/admin.key)" http://127.0.0.1:7443/v1/hosts
            """)
        {
            listen, tlsCert, tlsKey, jid, server, password, hosts, rate,
        };
        cmd.SetAction(async (p, ct) =>
        {
            var options = new ControlOptions
            {
                Listen = p.GetValue(listen)!,
                StateDir = Dir(p, stateDir),
                TlsCert = Full(p.GetValue(tlsCert)),
                TlsKey = Full(p.GetValue(tlsKey)),
                Jid = p.GetValue(jid),
                XmppServer = p.GetValue(server)!,
                XmppPasswordFile = Full(p.GetValue(password)),
                Hosts = p.GetValue(hosts) ?? [],
                RequestsPerSecondPerKey = p.GetValue(rate),
            };
            if (options.Jid is null && options.Hosts.Count > 0)
            {
                return Error("--host needs --xmpp and --xmpp-password-file: hosts are reached over the fabric only.");
            }

            ControlServer.Started started;
            try
            {
                started = await ControlServer.BuildAsync(options, cancellationToken: ct);
            }
            catch (ControlException e)
            {
                return Error(e.Message);
            }
            catch (Moat.Host.MoatHostException e)
            {
                return Error(e.Message);
            }
            catch (Moat.Xmpp.XmppException e)
            {
                return Error($"cannot join the fabric at {options.XmppServer} as {options.Jid}: {e.Message}");
            }

            await using (started.App)
            {
                started.App.Lifetime.ApplicationStarted.Register(() => Console.Out.WriteLine(
                    $"moat control ready: {(options.UsesTls ? "https" : "http")}://{options.Listen}; administrator key {(started.AdminKeyCreated ? "written to" : "in")} {started.AdminKeyPath}"));
                await Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.RunAsync(started.App, ct);
            }

            return 0;
        });

        cmd.Subcommands.Add(KeyCommands(stateDir, json));
        cmd.Subcommands.Add(ClientCommands(stateDir, json));
        return cmd;
    }

    private static Command KeyCommands(Option<string> stateDir, Option<bool> json)
    {
        var key = new Command("key", "API keys of the control plane's clients (in its store; works with the service running or not).");
        var client = new Option<string>("--client") { Description = "The client the key speaks for.", Required = true };
        var admin = new Option<bool>("--admin") { Description = "An administrator's key (every client's sandboxes, clients, keys, audit)." };
        var expires = new Option<string?>("--expires") { Description = "Lifetime: Nd (days) or Nh (hours); none by default." };
        var create = new Command("create", """
            Make a key for a client and print it once; only its hash is kept.

            Example:  moat control key create --client alice --expires 30d
            """) { client, admin, expires };
        create.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s =>
        {
            var (text, record) = await s.CreateKeyAsync(p.GetValue(client)!, p.GetValue(admin), Lifetime(p.GetValue(expires)), ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new NewKeyView(record.Id, record.Client, Scope(record), record.ExpiresAt, text), ControlJson.Options));
            }
            else
            {
                Console.Out.WriteLine(text);
                Console.Error.WriteLine($"key {record.Id} for {record.Client} ({Scope(record)}{(record.ExpiresAt is { } e ? ", expires " + e.ToString("u", CultureInfo.InvariantCulture) : string.Empty)}); shown this once.");
            }
        }));

        var ls = new Command("ls", "List keys (ids, clients, scopes, expiry, revocation; never the keys).\n\nExample:  moat control key ls --json");
        ls.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s =>
        {
            var keys = (await s.Store.ListKeysAsync(ct)).Select(k => new KeyView(k.Id, k.Client, Scope(k), k.CreatedAt, k.ExpiresAt, k.RevokedAt)).ToList();
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(keys, ControlJson.Options));
                return;
            }

            foreach (var k in keys)
            {
                Console.Out.WriteLine(string.Join('\t', k.Id, k.Client, k.Scope, k.ExpiresAt?.ToString("u", CultureInfo.InvariantCulture) ?? "-",
                    k.RevokedAt is null ? "active" : "revoked"));
            }
        }));

        var id = new Argument<string>("ID") { Description = "The key's id (the 12 hex digits after 'moat_')." };
        var revoke = new Command("revoke", "Revoke a key at once.\n\nExample:  moat control key revoke 0123456789ab") { id };
        revoke.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s =>
        {
            if (!await s.Store.RevokeKeyAsync(p.GetValue(id)!, DateTimeOffset.UtcNow, ct))
            {
                throw new ControlNotFoundException($"no key '{Names.Show(p.GetValue(id)!)}': 'moat control key ls' lists them.");
            }
        }));
        key.Subcommands.Add(create);
        key.Subcommands.Add(ls);
        key.Subcommands.Add(revoke);
        return key;
    }

    private static Command ClientCommands(Option<string> stateDir, Option<bool> json)
    {
        var clients = new Command("client", "The control plane's clients and their trust.");
        var name = new Argument<string>("NAME") { Description = "Lowercase letters, digits and '-'." };
        var trust = new Option<string>("--trust") { Description = "trusted, semi-trusted or untrusted.", DefaultValueFactory = _ => "untrusted" };
        var add = new Command("add", "Add a client.\n\nExample:  moat control client add alice --trust semi-trusted") { name, trust };
        add.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s => await s.AddClientAsync(p.GetValue(name)!, p.GetValue(trust)!, ct)));
        var setTrust = new Command("trust", "Change a client's trust (for sandboxes placed from now on).\n\nExample:  moat control client trust alice --trust trusted") { name, trust };
        setTrust.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s => await s.SetTrustAsync(p.GetValue(name)!, p.GetValue(trust)!, ct)));
        var ls = new Command("ls", "List clients and their trust.\n\nExample:  moat control client ls --json");
        ls.SetAction((p, ct) => WithServiceAsync(p, stateDir, async s =>
        {
            var list = (await s.Store.ListClientsAsync(ct)).Select(c => new ClientView(c.Name, c.Trust, c.CreatedAt)).ToList();
            Console.Out.WriteLine(p.GetValue(json) ? JsonSerializer.Serialize(list, ControlJson.Options) : string.Join('\n', list.Select(c => $"{c.Name}\t{c.Trust}")));
        }));
        clients.Subcommands.Add(add);
        clients.Subcommands.Add(setTrust);
        clients.Subcommands.Add(ls);
        return clients;
    }

    private static async Task<int> WithServiceAsync(ParseResult p, Option<string> stateDir, Func<ControlService, Task> action)
    {
        var dir = Dir(p, stateDir);
        try
        {
            if (!File.Exists(Path.Combine(dir, "control.db")))
            {
                return Error($"no control plane store in {dir}: start 'moat control --state-dir {dir}' once, or give the --state-dir it uses.");
            }

            await using var store = await SqliteControlStore.OpenAsync(Path.Combine(dir, "control.db"));
            await action(new ControlService(store, null, new Metrics.ControlMetrics(), TimeProvider.System));
            return 0;
        }
        catch (ControlException e)
        {
            return Error(e.Message);
        }
    }

    private static TimeSpan? Lifetime(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var unit = text.Length > 1 ? text[^1] : ' ';
        if (unit is 'd' or 'h' && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n) && n > 0)
        {
            return unit == 'd' ? TimeSpan.FromDays(Math.Min(n, 3661)) : TimeSpan.FromHours(Math.Min(n, 3661 * 24));
        }

        throw new ControlInputException($"--expires '{Names.Show(text)}' is not valid: give a number of days or hours, e.g. 30d or 12h.");
    }

    private static string Dir(ParseResult p, Option<string> stateDir) =>
        Path.GetFullPath(p.GetResult(stateDir) is { Implicit: false } ? p.GetValue(stateDir)! : DefaultStateDir);

    private static string? Full(string? path) => path is null ? null : Path.GetFullPath(path);

    private static string Scope(KeyRecord k) => k.Scope.ToString().ToLowerInvariant();

    private static int Error(string message)
    {
        Console.Error.WriteLine($"moat control: {message}");
        return 2;
    }
}
