using System.CommandLine;
using Moat.Host.Agent;

namespace Moat.Cli.Commands;

/// <summary>Options every command understands.</summary>
internal static class CommonOptions
{
    public static readonly Option<string> StateDir = new("--state-dir")
    {
        Description = "The host's state folder (store, images, sandboxes, the agent's socket). Env: MOAT_STATE_DIR.",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? HostAgentOptions.DefaultStateDir,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout instead of a table.",
        Recursive = true,
    };

    public static string SocketPath(ParseResult p) => Path.Combine(p.GetValue(StateDir)!, "agent.sock");
}
