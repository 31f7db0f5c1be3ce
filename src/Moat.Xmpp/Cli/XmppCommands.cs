using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Cli;

/// <summary>The 'moat xmpp' verbs: run the managed Prosody and provision its accounts.</summary>
[SupportedOSPlatform("linux")]
public static class XmppCommands
{
    public static Command Create()
    {
        var root = new Command("xmpp", "The XMPP fabric: run Moat's managed Prosody server and provision accounts for hosts, workers, managers and people.");
        root.Subcommands.Add(Serve());
        var account = new Command("account", "Manage accounts on the managed server.");
        account.Subcommands.Add(AddAccount());
        root.Subcommands.Add(account);
        return root;
    }

    private static Option<string> DataOption() => new("--data")
    {
        Description = "Folder holding the server's configuration, accounts and log (created if missing).",
        DefaultValueFactory = _ => "/var/lib/moat/prosody",
    };

    private static Option<string> DomainOption() => new("--domain")
    {
        Description = "XMPP domain of the accounts, e.g. moat.test.",
        DefaultValueFactory = _ => "moat.test",
    };

    private static Command Serve()
    {
        var command = new Command("serve",
            "Run the managed Prosody in the foreground until Ctrl-C, bound to loopback unless --address says otherwise.\n" +
            "Example: moat xmpp serve --data /var/lib/moat/prosody --domain moat.test --port 5222");
        var data = DataOption();
        var domain = DomainOption();
        var address = new Option<string>("--address") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Client port (5222 is the XMPP default).", DefaultValueFactory = _ => 5222 };
        var plain = new Option<bool>("--allow-plain-without-tls") { Description = "Accept SASL PLAIN on unencrypted streams (loopback only)." };
        var noNagle = new Option<bool>("--no-nagle")
        {
            Description = "Send each stanza at once (TCP_NODELAY): faster request/answer exchanges such as relocations over the fabric, slower bulk job dispatch (docs/benchmarks/xmpp.md).",
        };
        command.Options.Add(data);
        command.Options.Add(domain);
        command.Options.Add(address);
        command.Options.Add(port);
        command.Options.Add(plain);
        command.Options.Add(noNagle);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                Directory.CreateDirectory(parse.GetValue(data)!);
                await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with
                {
                    DataDirectory = parse.GetValue(data),
                    Domains = [new ProsodyDomain(parse.GetValue(domain)!)],
                    Address = parse.GetValue(address)!,
                    Port = parse.GetValue(port),
                    AllowPlainWithoutTls = parse.GetValue(plain),
                    Nagle = !parse.GetValue(noNagle),
                }, ct);
                // SIGTERM (a service manager, `kill`) and Ctrl-C both end the wait here, and the runtime is kept from
                // starting its own shutdown, so that disposing the server below stops Prosody before this process
                // ends: left to the runtime, SIGTERM would end the process with Prosody still running.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
                using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
                Console.WriteLine($"Prosody serves {server.Domain} on {server.Address}:{server.Port}; data in {server.DataDirectory}. Ctrl-C or SIGTERM stops it.");
                try
                {
                    await server.WaitForExitAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    // Stopped: disposing the server stops Prosody.
                }

                void Stop(PosixSignalContext context)
                {
                    context.Cancel = true;
                    stop.Cancel();
                }

                return 0;
            }
            catch (XmppException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        return command;
    }

    private static Command AddAccount()
    {
        var command = new Command("add",
            "Create or reset an account on the managed server (works while it runs).\n" +
            "Example: moat xmpp account add worker17 --password-file worker17.pw --data /var/lib/moat/prosody --domain moat.test");
        var user = new Argument<string>("USER") { Description = "Account name (the part before @)." };
        var passwordFile = new Option<string?>("--password-file") { Description = "File holding the account's password (first line), so that it shows in no process list." };
        var password = new Option<string?>("--password") { Description = "The account's password; visible to every local user in the process list while this runs: prefer --password-file." };
        var data = DataOption();
        var domain = DomainOption();
        var sha256 = new Option<bool>("--sha256") { Description = "The domain stores SCRAM-SHA-256 keys (password_hash = \"SHA-256\")." };
        command.Arguments.Add(user);
        command.Options.Add(passwordFile);
        command.Options.Add(password);
        command.Options.Add(data);
        command.Options.Add(domain);
        command.Options.Add(sha256);
        command.SetAction(parse =>
        {
            try
            {
                var d = new ProsodyDomain(parse.GetValue(domain)!, parse.GetValue(sha256) ? "SHA-256" : "SHA-1");
                var secret = (parse.GetValue(passwordFile), parse.GetValue(password)) switch
                {
                    ({ } file, null) => File.ReadLines(file).FirstOrDefault() is { Length: > 0 } line ? line
                        : throw new ArgumentException($"--password-file {file} is empty: put the account's password on its first line."),
                    (null, { } given) => given,
                    _ => throw new ArgumentException("give the account's password with --password-file FILE (or --password, which other users can see in the process list), not both."),
                };
                ProsodyServer.WriteAccount(parse.GetValue(data)!, d, parse.GetValue(user)!, secret);
                Console.WriteLine($"Account {parse.GetValue(user)}@{d.Name} is ready.");
                return 0;
            }
            catch (Exception e) when (e is XmppException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine(e.Message);
                return 1;
            }
        });
        return command;
    }
}
