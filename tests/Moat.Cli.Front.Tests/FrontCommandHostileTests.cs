namespace Moat.Cli.Front.Tests;

/// <summary>
/// The front answers a command line only when it reads it exactly as the full CLI would; every other one (help, an
/// option it does not serve, a doubtful value, a repeated option, a response file) must go whole to the full CLI
/// (<see cref="FrontCommand.Parse"/> returns null), never be half-read into a request to the agent.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class FrontCommandHostileTests
{
    public static TheoryData<string[]> NotServed() => new()
    {
        // help and version in every spelling but the plain one
        new[] { "--help" }, new[] { "-h" }, new[] { "-?" }, new[] { "--version", "--json" }, new[] { "sandbox", "--version" },
        new[] { "sandbox", "ls", "--help" }, new[] { "sandbox", "run", "-h" }, new[] { "sandbox", "exec", "web", "--help", "--", "ls" },
        // verbs and shapes the front does not serve
        new[] { "sandbox" }, new[] { "sandbox", "inspect", "web" }, new[] { "sandbox", "rm" }, new[] { "image", "ls" },
        new[] { "host" }, new[] { "sandbox", "ls", "extra" }, new[] { "sandbox", "run", "sh" }, new[] { "sandbox", "run", "web", "--", "sh" },
        new[] { "sandbox", "exec", "web" }, new[] { "sandbox", "exec", "web", "--" }, new[] { "sandbox", "exec", "web", "ls" },
        new[] { "sandbox", "exec", "--", "web", "ls" }, new[] { "sandbox", "exec", "a", "b", "--", "ls" },
        new[] { "Sandbox", "ls" }, new[] { "sandbox", "LS" },
        // terminals, and options of another verb or of none
        new[] { "sandbox", "exec", "-t", "web", "--", "sh" }, new[] { "sandbox", "exec", "-it", "web", "--", "sh" },
        new[] { "sandbox", "exec", "--interactive", "web", "--", "sh" }, new[] { "sandbox", "ls", "--name", "x" },
        new[] { "sandbox", "rm", "--all", "web" }, new[] { "sandbox", "run", "--timeout", "5" }, new[] { "sandbox", "exec", "--name", "x", "web", "--", "ls" },
        new[] { "sandbox", "run", "--no-start" }, new[] { "sandbox", "run", "--debug" }, new[] { "sandbox", "run", "--NAME", "x" },
        new[] { "sandbox", "run", "--name:x" }, new[] { "sandbox", "run", "-n", "x" }, new[] { "sandbox", "ls", "-aa" },
        // missing values, and values that look like options
        new[] { "sandbox", "run", "--name" }, new[] { "sandbox", "run", "--name", "--json" }, new[] { "sandbox", "run", "--name", "-x" },
        new[] { "sandbox", "ls", "--state-dir" }, new[] { "--state-dir", "sandbox", "ls" }, new[] { "sandbox", "run", "--name", "" },
        new[] { "sandbox", "exec", "--timeout", "--", "web", "--", "ls" },
        // switches given a value: the full CLI reads booleans
        new[] { "sandbox", "ls", "--json=false" }, new[] { "sandbox", "ls", "--all=true" }, new[] { "sandbox", "run", "--no-volume=false" },
        // repeated single options
        new[] { "sandbox", "run", "--name", "a", "--name", "b" }, new[] { "--state-dir", "/a", "sandbox", "ls", "--state-dir", "/b" },
        new[] { "sandbox", "ls", "--json", "--json" }, new[] { "sandbox", "ls", "-a", "--all" },
        new[] { "sandbox", "exec", "--timeout", "1", "--timeout", "2", "web", "--", "ls" },
        // values the full CLI refuses (it says why)
        new[] { "sandbox", "run", "--memory", "lots" }, new[] { "sandbox", "run", "--memory", "0" }, new[] { "sandbox", "run", "--memory", "-5M" },
        new[] { "sandbox", "run", "--memory", "1e300T" }, new[] { "sandbox", "run", "--memory", "NaN" }, new[] { "sandbox", "run", "--memory", "Infinity" },
        new[] { "sandbox", "run", "--disk", "2X" }, new[] { "sandbox", "run", "--cpus", "half" }, new[] { "sandbox", "run", "--cpus", "NaN" },
        new[] { "sandbox", "run", "--cpus", "Infinity" }, new[] { "sandbox", "run", "--pids", "1.5" }, new[] { "sandbox", "run", "--pids", "99999999999" },
        new[] { "sandbox", "run", "--tier", "kvm" }, new[] { "sandbox", "run", "--tier", "GVISOR" }, new[] { "sandbox", "run", "-e", "NOEQUALS" },
        new[] { "sandbox", "run", "-e", "=v" }, new[] { "sandbox", "exec", "--timeout", "soon", "web", "--", "ls" },
        new[] { "sandbox", "exec", "--timeout", "NaN", "web", "--", "ls" }, new[] { "sandbox", "exec", "-e", "X", "web", "--", "ls" },
        // response files and empty words
        new[] { "@args.rsp" }, new[] { "sandbox", "run", "@more" }, new[] { "sandbox", "", "ls" }, new[] { "" }, Array.Empty<string>(),
    };

    [Theory]
    [MemberData(nameof(NotServed))]
    public void A_command_line_the_front_does_not_read_exactly_goes_whole_to_the_full_cli(string[] args)
    {
        Assert.Null(FrontCommand.Parse(args));
    }

    [Fact]
    public void Words_after_dashes_are_the_command_never_options_of_moat()
    {
        var c = FrontCommand.Parse(["sandbox", "run", "--", "--name", "x", "--help", "--state-dir", "/etc", "@f"])!;
        Assert.False(c.Spec.ContainsKey("name"));
        Assert.Null(c.StateDir);
        Assert.Equal(["--name", "x", "--help", "--state-dir", "/etc", "@f"], (string[])c.Spec["command"]);

        var e = FrontCommand.Parse(["sandbox", "exec", "web", "--", "--json", "-t"])!;
        Assert.False(e.Json);
        Assert.Equal(["--json", "-t"], e.Command);
    }
}
