using System.CommandLine;

namespace Moat.Cli.Tests;

/// <summary>What one `moat` command line printed and returned, run in this process through the real command tree and
/// the real top-level error path (<see cref="MoatCli.RunAsync"/>).</summary>
internal sealed record CliRun(int Code, string Out, string Err)
{
    public IReadOnlyList<string> ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static async Task<CliRun> RunAsync(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        using var o = new StringWriter();
        using var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            var code = await MoatCli.RunAsync(MoatCli.CreateRoot(), args).WaitAsync(TimeSpan.FromSeconds(60));
            return new CliRun(code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    public override string ToString() => $"exit {Code}; stderr: {Err}; stdout: {Out}";
}

/// <summary>The command tree as the user sees it: every command, found by walking it (no list to keep in step).</summary>
internal static class CommandTree
{
    public static IEnumerable<(string Path, Command Command)> All(Command root)
    {
        foreach (var sub in root.Subcommands.Where(c => !c.Hidden))
        {
            yield return (sub.Name, sub);
            foreach (var (path, c) in All(sub))
            {
                yield return ($"{sub.Name} {path}", c);
            }
        }
    }

    public static IEnumerable<(string Path, Command Command)> Leaves(Command root) => All(root).Where(c => c.Command.Subcommands.Count == 0);

    public static Command Find(string path) => All(MoatCli.CreateRoot()).Single(c => c.Path == path).Command;

    public static TheoryData<string> LeafPaths()
    {
        var data = new TheoryData<string>();
        foreach (var (path, _) in Leaves(MoatCli.CreateRoot()))
        {
            data.Add(path);
        }

        return data;
    }

    public static TheoryData<string> CommandPaths()
    {
        var data = new TheoryData<string>();
        foreach (var (path, _) in All(MoatCli.CreateRoot()))
        {
            data.Add(path);
        }

        return data;
    }
}
