using System.CommandLine;
using Moat.Mtd.Simulation;

namespace Moat.Mtd.Cli;

/// <summary>The `moat mtd` command tree: moving target defense tools.</summary>
public static class MtdCommands
{
    /// <summary>Builds `mtd` with its `simulate`, `relocate` and `run` subcommands, and `lab` when
    /// <paramref name="labImages"/> says where its image comes from.</summary>
    public static Command Create(LabImageSource? labImages = null)
    {
        var mtd = new Command("mtd", "Moving target defense: relocate sandboxes between hosts so neighbours cannot keep attacking them.");
        mtd.Subcommands.Add(SimulateCommand.Create());
        mtd.Subcommands.Add(RelocateCommand.Create());
        mtd.Subcommands.Add(RunCommand.Create());
        if (labImages is not null)
        {
            mtd.Subcommands.Add(LabCommand.Create(labImages));
        }
        return mtd;
    }
}
