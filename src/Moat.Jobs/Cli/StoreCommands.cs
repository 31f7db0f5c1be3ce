using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text.Json;
using Moat.Storage;
using Moat.Storage.Postgres;

namespace Moat.Jobs.Cli;

/// <summary><c>moat job store serve</c>: a private PostgreSQL for the managers of one machine's deployment (scripts/up-style).</summary>
[SupportedOSPlatform("linux")]
internal static class StoreCommands
{
    public static Command Create()
    {
        var store = new Command("store", "The job store's own PostgreSQL, for managers that share one store.");
        store.Subcommands.Add(Serve());
        return store;
    }

    private static Command Serve()
    {
        var command = new Command("serve",
            "Run a private PostgreSQL cluster in the foreground until Ctrl-C or SIGTERM: created in --dir at the first start (initdb as 'postgres', a generated password in DIR/password, 0600), listening on loopback only; DIR/connection (0600) is what managers read.\n" +
            "Example: moat job store serve --dir /var/lib/moat/postgres --port 5433, then: moat job manager --store-connection-file /var/lib/moat/postgres/connection --id jobs-1 …");
        var dir = new Option<string>("--dir") { Description = "Folder of the cluster and its secrets (made 0700).", DefaultValueFactory = _ => "/var/lib/moat/postgres" };
        var port = new Option<int>("--port") { Description = "TCP port on 127.0.0.1 (0: a free one, written to the connection file).", DefaultValueFactory = _ => 5433 };
        var json = new Option<bool>("--json") { Description = "Print the address, port and connection file as one JSON line once serving." };
        command.Options.Add(dir);
        command.Options.Add(port);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = Path.GetFullPath(parse.GetValue(dir)!), Port = parse.GetValue(port) }, ct);
                // As in 'moat xmpp serve': SIGTERM and Ctrl-C end the wait and disposing the cluster stops PostgreSQL
                // (fast shutdown, committed data kept) before this process ends.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
                using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new { address = cluster.Address, port = cluster.Port, database = cluster.Database, connectionFile = cluster.ConnectionFile })
                    : $"PostgreSQL serves {cluster.Database} on {cluster.Address}:{cluster.Port}; managers use --store-connection-file {cluster.ConnectionFile}. Ctrl-C or SIGTERM stops it.");
                try
                {
                    await cluster.WaitForExitAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    // Stopped: disposing the cluster stops PostgreSQL.
                }

                void Stop(PosixSignalContext context)
                {
                    context.Cancel = true;
                    stop.Cancel();
                }

                if (!stop.IsCancellationRequested)
                {
                    await Console.Error.WriteLineAsync($"PostgreSQL stopped on its own; its log lines went to this command's output, and its data is in {cluster.DataDirectory}.");
                    return 1;
                }

                return 0;
            }
            catch (Exception e) when (e is StorageException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 1;
            }
        });
        return command;
    }
}
