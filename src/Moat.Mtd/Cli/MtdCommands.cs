using System.CommandLine;
using Moat.Mtd.Simulation;

namespace Moat.Mtd.Cli;

/// <summary>The `moat mtd` command tree: moving target defense tools.</summary>
public static class MtdCommands
{
    /// <summary>Builds `mtd` with its `simulate` and `relocate` subcommands.</summary>
    public static Command Create()
    {
        var mtd = new Command("mtd", "Moving target defense: relocate sandboxes between hosts so neighbours cannot keep attacking them.");
        mtd.Subcommands.Add(SimulateCommand.Create());
        mtd.Subcommands.Add(RelocateCommand.Create());
        mtd.Subcommands.Add(RunCommand.Create());
        return mtd;
    }
}
