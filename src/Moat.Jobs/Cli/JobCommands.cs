using System.CommandLine;
using System.Globalization;
using System.Xml.Linq;
using Moat.Jobs.Manager;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Storage;
using Moat.Storage.Postgres;
using Moat.Xmpp;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Cli;

/// <summary>The 'moat job' verbs: talk to a job manager over XMPP, or run a manager or a worker.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class JobCommands
{
    private sealed record Connection(Option<string> Server, Option<string> Jid, Option<string> Password, Option<bool> NoTls, Option<bool> Insecure)
    {
        public Option<FileInfo> PasswordFile { get; } = new("--password-file") { Description = "Read the account password from this file (first line), so it shows in no process list." };
    }

    public static Command Create()
    {
        var root = new Command("job",
            "Many-task jobs on the XMPP fabric (Kestrel): submit a command run N times, watch it, cancel it, read its output.\n" +
            "Every verb is also understood as a chat message sent to the manager's JID from any XMPP client.");
        var manager = new Option<string>("--manager") { Description = "Full or bare JID of the job manager, e.g. jobs@moat.test/manager.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };

        var submit = Verb("submit", "Submit a job of N tasks; {task} in the arguments becomes each task's index.\nExample: moat job submit --manager jobs@moat.test/manager --jid alice@moat.test --tasks 1000 -- /bin/echo {task}", manager, json, out var conn);
        var tasks = new Option<int>("--tasks") { Description = "Number of tasks.", DefaultValueFactory = _ => 1 };
        var labels = new Option<string[]>("--label") { Description = "A label every worker running the job must advertise (repeatable).", AllowMultipleArgumentsPerToken = false };
        var memory = new Option<int>("--memory") { Description = "Memory each task needs, in MB." };
        var cpus = new Option<double>("--cpus") { Description = "CPUs each task needs." };
        var priority = new Option<int>("--priority") { Description = "Higher runs first." };
        var retries = new Option<int>("--retries") { Description = "Re-runs of a task that fails or times out." };
        var redundancy = new Option<int>("--redundancy") { Description = "Run each task on this many workers and compare outputs.", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds a task may run.", DefaultValueFactory = _ => 600 };
        var command = new Argument<string[]>("COMMAND") { Description = "The program and its arguments (after --).", Arity = ArgumentArity.OneOrMore };
        foreach (var o in new Option[] { tasks, labels, memory, cpus, priority, retries, redundancy, timeout })
        {
            submit.Options.Add(o);
        }

        submit.Arguments.Add(command);
        submit.SetAction((parse, ct) =>
        {
            var text = new List<string> { "submit", "--tasks", I(parse.GetValue(tasks)), "--memory", I(parse.GetValue(memory)), "--cpus", D(parse.GetValue(cpus)),
                "--priority", I(parse.GetValue(priority)), "--retries", I(parse.GetValue(retries)), "--redundancy", I(parse.GetValue(redundancy)),
                "--timeout", D(parse.GetValue(timeout)) };
            foreach (var l in parse.GetValue(labels) ?? [])
            {
                text.AddRange(["--label", l]);
            }

            text.Add("--");
            text.AddRange(parse.GetValue(command)!);
            return SendAsync(parse, conn, manager, json, text, ct);
        });

        var status = Verb("status", "Show a job's progress, or your recent jobs.\nExample: moat job status 12 --manager jobs@moat.test --jid alice@moat.test", manager, json, out var c2);
        var jobOptional = new Argument<string?>("JOB") { Description = "Job number.", Arity = ArgumentArity.ZeroOrOne };
        status.Arguments.Add(jobOptional);
        status.SetAction((parse, ct) => SendAsync(parse, c2, manager, json, ["status", .. Optional(parse.GetValue(jobOptional))], ct));

        var cancel = Verb("cancel", "Cancel a job's queued and running tasks.\nExample: moat job cancel 12 --manager jobs@moat.test --jid alice@moat.test", manager, json, out var c3);
        var job = new Argument<string>("JOB") { Description = "Job number." };
        cancel.Arguments.Add(job);
        cancel.SetAction((parse, ct) => SendAsync(parse, c3, manager, json, ["cancel", parse.GetValue(job)!], ct));

        var logs = Verb("logs", "Show exit codes and output of a job's tasks.\nExample: moat job logs 12 3 --manager jobs@moat.test --jid alice@moat.test", manager, json, out var c4);
        var job2 = new Argument<string>("JOB") { Description = "Job number." };
        var task = new Argument<string?>("TASK") { Description = "Task index (all when omitted).", Arity = ArgumentArity.ZeroOrOne };
        logs.Arguments.Add(job2);
        logs.Arguments.Add(task);
        logs.SetAction((parse, ct) => SendAsync(parse, c4, manager, json, ["logs", parse.GetValue(job2)!, .. Optional(parse.GetValue(task))], ct));

        var workers = Verb("workers", "List the workers the manager sees and their load.\nExample: moat job workers --manager jobs@moat.test --jid alice@moat.test", manager, json, out var c5);
        workers.SetAction((parse, ct) => SendAsync(parse, c5, manager, json, ["workers"], ct));

        var queue = Verb("queue", "Count tasks waiting and running.\nExample: moat job queue --manager jobs@moat.test --jid alice@moat.test", manager, json, out var c6);
        queue.SetAction((parse, ct) => SendAsync(parse, c6, manager, json, ["queue"], ct));

        var chat = Verb("chat", """
            Say one line to the manager as a chat message, exactly as a person would from any XMPP client (Gajim,
            Conversations, Dino: add the manager as a contact and type the same words), and print its reply.
            Example: moat job chat --manager jobs@moat.test --jid alice@moat.test -- submit --tasks 10 -- /bin/echo {task}
            """, manager, json, out var c7);
        var words = new Argument<string[]>("LINE") { Description = "The words of the chat message ('help' lists the verbs).", Arity = ArgumentArity.OneOrMore };
        chat.Arguments.Add(words);
        chat.SetAction((parse, ct) => ChatAsync(parse, c7, manager, json, [.. parse.GetValue(words)!], ct));

        foreach (var v in new[] { submit, status, cancel, logs, workers, queue, chat, RunManager(), RunWorker(), StoreCommands.Create() })
        {
            root.Subcommands.Add(v);
        }

        return root;
    }

    private static Command Verb(string name, string description, Option<string> manager, Option<bool> json, out Connection connection)
    {
        var command = new Command(name, description);
        connection = AddConnection(command, "Your JID, e.g. alice@moat.test.");
        command.Options.Add(manager);
        command.Options.Add(json);
        return command;
    }

    private static Connection AddConnection(Command command, string jidDescription)
    {
        var c = new Connection(
            new Option<string>("--server") { Description = "XMPP server as host:port.", DefaultValueFactory = _ => "127.0.0.1:5222" },
            new Option<string>("--jid") { Description = jidDescription, Required = true },
            // Kept only to refuse it with a sentence that names the safe ways: argv is every local user's to read.
            new Option<string>("--password") { Description = "Refused: a password in argv is in every local user's process list; use --password-file or MOAT_XMPP_PASSWORD.", Hidden = true },
            new Option<bool>("--no-tls") { Description = "Do not use STARTTLS (loopback servers only)." },
            new Option<bool>("--insecure-skip-verify") { Description = "Accept any server certificate (test servers with self-signed certificates)." });
        command.Options.Add(c.Server);
        command.Options.Add(c.Jid);
        command.Options.Add(c.Password);
        command.Options.Add(c.PasswordFile);
        command.Options.Add(c.NoTls);
        command.Options.Add(c.Insecure);
        return c;
    }

    /// <summary>The password in a file, read as the fabric's own options read theirs.</summary>
    private static string? PasswordFromFile(FileInfo? file)
    {
        if (file is null)
        {
            return null;
        }

        string password;
        try
        {
            password = Moat.Host.Fabric.FabricOptions.ReadPassword(file.FullName);
        }
        catch (Moat.Host.InvalidRequestException e)
        {
            throw new ArgumentException(e.Message, e);
        }

        return password.Length > 0 ? password : throw new ArgumentException($"--password-file {file.FullName} is empty.");
    }

    private static XmppClientOptions ClientOptions(ParseResult parse, Connection c, string? resource)
    {
        string server = parse.GetValue(c.Server)!;
        int colon = server.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(server[(colon + 1)..], CultureInfo.InvariantCulture, out int port))
        {
            throw new ArgumentException($"--server '{server}' is not host:port, e.g. 127.0.0.1:5222.");
        }

        if (parse.GetValue(c.Password) is not null)
        {
            throw new ArgumentException("--password would show the password to every local user in the process list; give --password-file FILE (the password on its first line, mode 0600) or set MOAT_XMPP_PASSWORD instead.");
        }

        string password = PasswordFromFile(parse.GetValue(c.PasswordFile)) ?? Environment.GetEnvironmentVariable("MOAT_XMPP_PASSWORD")
            ?? throw new ArgumentException("No password: pass --password-file FILE or set MOAT_XMPP_PASSWORD.");
        bool noTls = parse.GetValue(c.NoTls);
        return XmppClientOptions.Default with
        {
            Host = server[..colon],
            Port = port,
            Jid = parse.GetValue(c.Jid)!,
            Password = password,
            Resource = resource,
            Tls = noTls ? TlsMode.Disabled : TlsMode.Required,
            AllowPlainWithoutTls = false,
            CertificateValidation = parse.GetValue(c.Insecure) ? (_, _, _, _) => true : null,
        };
    }

    private static async Task<int> SendAsync(ParseResult parse, Connection c, Option<string> manager, Option<bool> json, List<string> words, CancellationToken ct)
    {
        try
        {
            if (parse.GetValue(json))
            {
                words.Add("--json");
            }

            string line = string.Join(' ', words.Select(Quote));
            await using var client = new XmppClient(ClientOptions(parse, c, "cli-" + Guid.NewGuid().ToString("N")[..8]) with { Reconnect = false, SendInitialPresence = false });
            await client.ConnectAsync(ct);
            string to = parse.GetValue(manager)!;
            var answer = await client.IqAsync(JobProtocol.CommandRequest(to.Contains('/', StringComparison.Ordinal) ? to : to + "/manager", line), TimeSpan.FromSeconds(30), ct);
            var reply = answer.Element(JobProtocol.Ns + "reply");
            bool ok = reply?.Attribute("ok")?.Value != "false";
            (ok ? Console.Out : Console.Error).WriteLine(reply?.Value ?? "The manager sent an empty reply.");
            return ok ? 0 : 1;
        }
        catch (Exception e) when (e is XmppException or ArgumentException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
    }

    /// <summary>Sends the line as a type="chat" message (not the IQ the other verbs use) and waits for the manager's
    /// chat reply: the path a person's chat client takes.</summary>
    private static async Task<int> ChatAsync(ParseResult parse, Connection c, Option<string> manager, Option<bool> json, List<string> words, CancellationToken ct)
    {
        try
        {
            if (parse.GetValue(json))
            {
                words.Add("--json");
            }

            string to = parse.GetValue(manager)!;
            string target = to.Contains('/', StringComparison.Ordinal) ? to : to + "/manager";
            var bare = Jid.Parse(target).Bare.ToString();
            var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var client = new XmppClient(ClientOptions(parse, c, "chat-" + Guid.NewGuid().ToString("N")[..8]) with { Reconnect = false, SendInitialPresence = false });
            client.MessageReceived += m =>
            {
                if (m.Attribute("from")?.Value is { } from && string.Equals(Jid.Parse(from).Bare.ToString(), bare, StringComparison.OrdinalIgnoreCase)
                    && m.Element(JobProtocol.Client + "body")?.Value is { } body)
                {
                    reply.TrySetResult(body);
                }
            };
            await client.ConnectAsync(ct);
            await client.SendMessageAsync(target, string.Join(' ', words.Select(Quote)), ct);
            var text = await reply.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
            Console.Out.WriteLine(text);
            return 0;
        }
        catch (TimeoutException)
        {
            await Console.Error.WriteLineAsync($"The manager {parse.GetValue(manager)} did not answer the chat message within 30 s (is it running and connected?).");
            return 1;
        }
        catch (Exception e) when (e is XmppException or ArgumentException or IOException or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
    }

    private static Command RunManager()
    {
        var command = new Command("manager",
            "Run a job manager in the foreground: it keeps jobs in a store, dispatches tasks to workers and answers people.\n" +
            "Example: moat job manager --jid jobs@moat.test --store /var/lib/moat/jobs.db --submitter alice@moat.test --admin root@moat.test\n" +
            "Several managers on one PostgreSQL: moat job manager --jid jobs@moat.test --id jobs-1 --store-connection-file /etc/moat/jobs-db --worker-allow group:workers");
        var c = AddConnection(command, "The manager's JID, e.g. jobs@moat.test (resource 'manager').");
        var store = new Option<string>("--store")
        {
            Description = "The job store: a SQLite file (managers on this machine), or postgres://user@host:port/db (managers on several machines; no password here: use --store-connection-file, PGPASSWORD or ~/.pgpass).",
            DefaultValueFactory = _ => "/var/lib/moat/jobs.db",
        };
        var connectionFile = new Option<string?>("--store-connection-file")
        {
            Description = "A 0600 file holding the PostgreSQL address with its password (postgres://user:password@host:port/db) or an Npgsql connection string; replaces --store.",
        };
        var id = new Option<string>("--id") { Description = "Stable manager name in the store, unique among the managers sharing it.", DefaultValueFactory = _ => "manager" };
        var lease = new Option<int>("--lease-seconds")
        {
            Description = "How long the tasks of a manager that died stay with it before another manager on the store takes them back.",
            DefaultValueFactory = _ => 30,
        };
        var submitters = new Option<string[]>("--submitter") { Description = "Bare JID allowed to submit (repeatable)." };
        var admins = new Option<string[]>("--admin") { Description = "Bare JID that may see and cancel every job (repeatable)." };
        var workerAllow = new Option<string[]>("--worker-allow")
        {
            Description = "Account that may be a worker (repeatable): a bare JID (worker@moat.test) or group:NAME for the members of a roster group of the manager's account. Without it no worker is accepted.",
        };
        command.Options.Add(workerAllow);
        command.Options.Add(store);
        command.Options.Add(connectionFile);
        command.Options.Add(id);
        command.Options.Add(lease);
        command.Options.Add(submitters);
        command.Options.Add(admins);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var allowed = parse.GetValue(workerAllow) ?? [];
                var options = new JobManagerOptions
                {
                    Xmpp = ClientOptions(parse, c, "manager"),
                    ManagerId = parse.GetValue(id)!,
                    Authorization = new JobAuthorization(
                        (parse.GetValue(submitters) ?? []).ToHashSet(StringComparer.OrdinalIgnoreCase),
                        (parse.GetValue(admins) ?? []).ToHashSet(StringComparer.OrdinalIgnoreCase)),
                    WorkerAllow = allowed,
                    Lease = TimeSpan.FromSeconds(parse.GetValue(lease)),
                };
                if (options.Validate() is { } problem)
                {
                    await Console.Error.WriteLineAsync(problem);
                    return 1;
                }

                if (allowed.Length == 0)
                {
                    await Console.Error.WriteLineAsync("No --worker-allow given, so this manager accepts no worker: name each worker account (--worker-allow worker@moat.test) or a roster group of the manager's account (--worker-allow group:workers).");
                }

                await using var jobs = await OpenStoreAsync(parse.GetValue(store)!, parse.GetValue(connectionFile), ct);
                await using var manager = new JobManager(options, jobs);
                await manager.StartAsync(ct);
                Console.WriteLine($"Manager {manager.Client.BoundJid} is dispatching; Ctrl-C stops it.");
                await WaitForCancellationAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is XmppException or ArgumentException or IOException or System.Data.Common.DbException or StorageException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        return command;
    }

    /// <summary>The store named by --store (a SQLite path or a postgres:// address) or by --store-connection-file.</summary>
    internal static async Task<IJobStore> OpenStoreAsync(string store, string? connectionFile, CancellationToken cancellationToken)
    {
        if (connectionFile is not null)
        {
            return await PostgresJobStore.OpenAsync(await PostgresAddress.FromFileAsync(connectionFile, cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return PostgresAddress.IsAddress(store)
            ? await PostgresJobStore.OpenAsync(PostgresAddress.FromCommandLine(store), cancellationToken: cancellationToken).ConfigureAwait(false)
            : await SqliteJobStore.OpenAsync(store, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static Command RunWorker()
    {
        var command = new Command("worker",
            "Run a worker in the foreground: it advertises its slots and labels to its managers and runs their tasks.\n" +
            "Example: moat job worker --jid worker1@moat.test --manager jobs@moat.test --slots 4 --label x86");
        var c = AddConnection(command, "The worker's JID, e.g. worker1@moat.test.");
        var managers = new Option<string[]>("--manager") { Description = "Bare JID of a manager to serve (repeatable).", Required = true };
        var slots = new Option<int>("--slots") { Description = "Tasks run at once.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var labels = new Option<string[]>("--label") { Description = "A label to advertise (repeatable)." };
        var memory = new Option<int>("--memory") { Description = "Memory offered, in MB (0: unlimited)." };
        command.Options.Add(managers);
        command.Options.Add(slots);
        command.Options.Add(labels);
        command.Options.Add(memory);
        var inSandbox = new Option<bool>("--in-sandbox") { Description = "Run each task in its own Moat sandbox claimed from the local host agent's warm pool (destroyed after the task); advertises the labels sandbox, image=IMAGE, tier=TIER." };
        var image = new Option<string>("--image") { Description = "Image of the task sandboxes (with --in-sandbox).", DefaultValueFactory = _ => "busybox" };
        var sandboxMemory = new Option<int>("--sandbox-memory") { Description = "Memory limit of each task sandbox, in MiB (with --in-sandbox).", DefaultValueFactory = _ => 128 };
        var sandboxCpus = new Option<double>("--sandbox-cpus") { Description = "CPU limit of each task sandbox, in cores (with --in-sandbox).", DefaultValueFactory = _ => 1.0 };
        var tier = new Option<string?>("--tier") { Description = "Runtime tier of the task sandboxes: container or gvisor (with --in-sandbox; default: the host's choice for client 'jobs')." };
        var socket = new Option<string>("--agent-socket")
        {
            Description = "The local host agent's socket (with --in-sandbox).",
            DefaultValueFactory = _ => Path.Combine(Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat", "agent.sock"),
        };
        command.Options.Add(inSandbox);
        command.Options.Add(image);
        command.Options.Add(sandboxMemory);
        command.Options.Add(sandboxCpus);
        command.Options.Add(tier);
        command.Options.Add(socket);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                Moat.Host.Client.HostClient? host = null;
                var workerOptions = new JobWorkerOptions
                {
                    // Several workers of one account on one machine differ by the resource given in --jid.
                    Xmpp = ClientOptions(parse, c, Jid.Parse(parse.GetValue(c.Jid)!).Resource ?? "worker-" + Environment.MachineName),
                    Managers = parse.GetValue(managers)!,
                    Slots = parse.GetValue(slots),
                    Labels = parse.GetValue(labels) ?? [],
                    MemoryMb = parse.GetValue(memory),
                };
                if (parse.GetValue(inSandbox))
                {
                    Moat.Host.Sandboxes.RuntimeTier? t = null;
                    if (parse.GetValue(tier) is { } tierName)
                    {
                        t = Moat.Host.Sandboxes.RuntimeTiers.TryParse(tierName, out var parsed) ? parsed
                            : throw new ArgumentException($"--tier '{tierName}' is not a runtime tier: give container or gvisor.");
                    }

                    var sandbox = SandboxTaskOptions.Default with
                    {
                        Image = parse.GetValue(image)!,
                        MemoryBytes = parse.GetValue(sandboxMemory) * Moat.Host.Sandboxes.SandboxSpec.MiB,
                        Cpus = parse.GetValue(sandboxCpus),
                        Tier = t,
                    };
                    host = new Moat.Host.Client.HostClient(parse.GetValue(socket)!);
                    workerOptions = workerOptions with
                    {
                        Executor = new SandboxTaskExecutor(host, sandbox),
                        Labels = [.. workerOptions.Labels, .. sandbox.Labels],
                        MemoryMb = workerOptions.MemoryMb > 0 ? workerOptions.MemoryMb : parse.GetValue(sandboxMemory),
                        Cpus = sandbox.Cpus,
                    };
                }

                using var hostClient = host;
                await using var worker = new JobWorker(workerOptions);
                await worker.StartAsync(ct);
                Console.WriteLine($"Worker {worker.Client.BoundJid} is ready; Ctrl-C stops it.");
                await WaitForCancellationAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is XmppException or ArgumentException or IOException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        return command;
    }

    private static async Task WaitForCancellationAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C: the caller disposes what it started.
        }
    }

    private static string[] Optional(string? value) => value is null ? [] : [value];

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string D(double v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string word) =>
        word.Length > 0 && !word.Any(ch => char.IsWhiteSpace(ch) || ch is '\'' or '"') ? word
        : word.Contains('\'', StringComparison.Ordinal) ? "\"" + word + "\"" : "'" + word + "'";
}
