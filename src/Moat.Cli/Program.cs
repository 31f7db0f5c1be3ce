using System.CommandLine;
using Moat.Cli.Commands;

var root = new RootCommand("""
    Moat lends this machine's compute to clients in isolated sandboxes, with network containment by trust level.

    Start here:
      moat host                      run the host agent (keep it running; Ctrl-C stops it, sandboxes survive)
      moat image build busybox       make the small test image
      moat sandbox run --name demo   hand out a sandbox
      moat sandbox exec demo -- sh -c 'echo hello from $(hostname)'
      scripts/demo                   the guided tour against a running agent
    """);
root.Options.Add(CommonOptions.StateDir);
root.Options.Add(CommonOptions.Json);
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

// Command trees from the other assemblies declare their own --json (they also run without this root, in tests); it is
// the same switch as the root's, so help lists it once. The command's own option still takes the value.
HideSecondJson(root);
// Ctrl-C / SIGTERM cancel the running verb; long-running ones (the host agent, a honeyfarm with many sandbox
// clones) get this long to stop cleanly before the process is ended regardless (the library default is 2 s).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });

static void HideSecondJson(Command command)
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
