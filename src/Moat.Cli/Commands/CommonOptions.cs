using System.CommandLine;
using Moat.Host.Agent;

namespace Moat.Cli.Commands;

/// <summary>Options every command understands.</summary>
internal static class CommonOptions
{
    /// <summary>The image commands' option, shared so that one --state-dir means one thing everywhere.</summary>
    public static readonly Option<string> StateDir = CreateStateDir();

    /// <summary>The state folder when --state-dir is not given: $MOAT_STATE_DIR, else /var/lib/moat.</summary>
    public static string DefaultStateDir => Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? HostAgentOptions.DefaultStateDir;

    private static Option<string> CreateStateDir()
    {
        var o = Moat.Images.Cli.ImageCommands.StateDirOption;
        o.Description = "The host's state folder (store, images, sandboxes, the agent's socket). Env: MOAT_STATE_DIR.";
        o.DefaultValueFactory = _ => DefaultStateDir;
        return o;
    }

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout instead of a table.",
        Recursive = true,
    };

    public static string SocketPath(ParseResult p) => Path.Combine(p.GetValue(StateDir)!, "agent.sock");
}
