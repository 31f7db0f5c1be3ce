using System.CommandLine;
using System.CommandLine.Invocation;
using Moat.Cli.Commands;
using Moat.Cli.Output;

namespace Moat.Cli;

/// <summary>The `moat` command tree and the one place its failures become a sentence and an exit code.</summary>
internal static class MoatCli
{
    /// <summary>`--debug`: print the stack trace of a failure after its one-line sentence.</summary>
    public static readonly Option<bool> Debug = new("--debug")
    {
        Description = "On failure, print the exception's stack trace after the one-line message. Env: MOAT_DEBUG=1.",
        Recursive = true,
    };

    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("""
            Moat lends this machine's compute to clients in isolated sandboxes, with network containment by trust level.

            Start here:
              moat host                      run the host agent (keep it running; Ctrl-C stops it, sandboxes survive)
              moat image build busybox       make the small test image
              moat sandbox run --name demo   hand out a sandbox
              moat sandbox exec demo -- sh -c 'echo hello from $(hostname)'
              scripts/demo                   the guided tour against a running agent

            Exit codes: 0 ok, 1 internal error, 2 usage or invalid input, 3 refused, 4 not found, 5 unavailable (no
            agent or server); 'moat sandbox exec' exits with its command's code, and 125 when moat itself failed.
            """);
        root.Options.Add(CommonOptions.StateDir);
        root.Options.Add(CommonOptions.Json);
        root.Options.Add(Debug);
        root.Subcommands.Add(HostCommand.Create());
        root.Subcommands.Add(SandboxCommands.Create());
        root.Subcommands.Add(Moat.Images.Cli.ImageCommands.Create());
        root.Subcommands.Add(Moat.Pki.Cli.PkiCommands.Create());
        root.Subcommands.Add(Moat.Pki.Cli.AuthCertCommands.Create());
        root.Subcommands.Add(Moat.Detect.Cli.DetectCommands.Create());
        root.Subcommands.Add(Moat.Mtd.Cli.MtdCommands.Create(Moat.Cli.Composition.LabImages.Source));
        root.Subcommands.Add(Moat.Monitor.Cli.MonitorCommands.Create());
        WatchCommands.AddTo(root);
        root.Subcommands.Add(Moat.Xmpp.Cli.XmppCommands.Create());
        root.Subcommands.Add(Moat.Jobs.Cli.JobCommands.Create());
        root.Subcommands.Add(Moat.Honeyfarm.Cli.HoneyfarmCommands.Create());
        root.Subcommands.Add(Moat.Containment.Cli.ClientCommands.Create());
        root.Subcommands.Add(Moat.Containment.Cli.FlowCommands.Create(SandboxCommands.TryResolveIdAsync));
        var policy = Moat.Containment.Cli.PolicyCommands.Create();
        policy.Subcommands.Add(ContainmentVerbs.PolicyReload());
        root.Subcommands.Add(policy);
        root.Subcommands.Add(FabricCommands.Create());
        root.Subcommands.Add(Moat.Control.Cli.ControlCommands.Create(CommonOptions.StateDir, CommonOptions.Json));

        // Command trees from the other assemblies declare their own --json (they also run without this root, in
        // tests); it is the same switch as the root's, so help lists it once. The command's own option still takes
        // the value.
        HideSecondJson(root);
        return root;
    }

    /// <summary>Parses and runs one command line: a parse error is one line and exit 2, any failure of the verb one
    /// line and the exit code of its kind (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            var path = string.Join(' ', parse.CommandResult.Command.Parents.OfType<Command>().Reverse().Select(c => c.Name).Append(parse.CommandResult.Command.Name).Skip(1).Prepend("moat"));
            Console.Error.WriteLine($"moat: {string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.')).Distinct(StringComparer.Ordinal))}; see '{path} --help'.");
            return ExitCodes.Usage;
        }

        var debug = parse.GetValue(Debug) || Environment.GetEnvironmentVariable("MOAT_DEBUG") is "1" or "true";
        try
        {
            // Ctrl-C / SIGTERM cancel the running verb; long-running ones (the host agent, a honeyfarm with many
            // sandbox clones) get this long to stop cleanly before the process is ended regardless (the library
            // default is 2 s).
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                ProcessTerminationTimeout = TimeSpan.FromSeconds(30),
                EnableDefaultExceptionHandler = false,
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("moat: interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            return Failure.Report(e, parse, debug);
        }
    }

    private static void HideSecondJson(Command command)
    {
        foreach (var option in command.Options.Where(o => o != CommonOptions.Json && o.Name == CommonOptions.Json.Name))
        {
            option.Hidden = true;
        }

        foreach (var sub in command.Subcommands)
        {
            HideSecondJson(sub);
        }
    }
}
