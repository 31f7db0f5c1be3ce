namespace Moat.Cli.Front.Tests;

/// <summary>The command lines the native front answers itself, read the way the full CLI reads them.</summary>
public sealed class FrontCommandTests
{
    [Fact]
    public void Version_alone_is_served()
    {
        Assert.Equal(FrontVerb.Version, FrontCommand.Parse(["--version"])!.Verb);
    }

    [Fact]
    public void List_with_all_json_and_a_state_folder_anywhere_is_served()
    {
        var c = FrontCommand.Parse(["--state-dir", "/tmp/s", "sandbox", "ls", "-a", "--json"])!;
        Assert.Equal(FrontVerb.List, c.Verb);
        Assert.Equal("/tmp/s", c.StateDir);
        Assert.True(c.All);
        Assert.True(c.Json);

        var d = FrontCommand.Parse(["sandbox", "list", "--state-dir=/tmp/t"])!;
        Assert.Equal(("/tmp/t", false, false), (d.StateDir, d.All, d.Json));
    }

    [Fact]
    public void Remove_takes_every_target()
    {
        var c = FrontCommand.Parse(["sandbox", "rm", "web", "db", "3f2a"])!;
        Assert.Equal(FrontVerb.Remove, c.Verb);
        Assert.Equal(["web", "db", "3f2a"], c.Targets);
        Assert.Equal(FrontVerb.Remove, FrontCommand.Parse(["sandbox", "destroy", "web"])!.Verb);
    }

    [Fact]
    public void Run_sends_only_the_fields_given_in_the_agents_names_and_units()
    {
        var c = FrontCommand.Parse(["sandbox", "run", "--name", "web", "--memory", "64M", "--cpus", "0.5", "--pids", "64", "--disk", "1GiB",
            "-e", "A=1", "--env=B=x=y", "--no-volume", "--tier", "gvisor", "--trust", "untrusted", "--client", "alice",
            "--client-address", "203.0.113.7", "--image", "busybox", "--", "sh", "-c", "echo $A"])!;
        Assert.Equal(FrontVerb.Run, c.Verb);
        Assert.Equal("web", c.Spec["name"]);
        Assert.Equal(64L << 20, c.Spec["memoryBytes"]);
        Assert.Equal(0.5, c.Spec["cpus"]);
        Assert.Equal(64, c.Spec["pids"]);
        Assert.Equal(1L << 30, c.Spec["diskBytes"]);
        Assert.Equal(false, c.Spec["volume"]);
        Assert.Equal("gvisor", c.Spec["tier"]);
        Assert.Equal("untrusted", c.Spec["trust"]);
        Assert.Equal("alice", c.Spec["client"]);
        Assert.Equal("203.0.113.7", c.Spec["clientAddress"]);
        Assert.Equal("busybox", c.Spec["image"]);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "x=y" }, (IReadOnlyDictionary<string, string>)c.Spec["env"]);
        Assert.Equal(["sh", "-c", "echo $A"], (string[])c.Spec["command"]);
    }

    [Fact]
    public void Run_without_options_sends_an_empty_spec()
    {
        var c = FrontCommand.Parse(["sandbox", "run"])!;
        Assert.Empty(c.Spec);
    }

    [Fact]
    public void Exec_takes_the_target_and_the_command_after_dashes()
    {
        var c = FrontCommand.Parse(["sandbox", "exec", "--timeout", "5", "-e", "K=V", "web", "--", "sh", "-c", "exit 3"])!;
        Assert.Equal(FrontVerb.Exec, c.Verb);
        Assert.Equal(["web"], c.Targets);
        Assert.Equal(["sh", "-c", "exit 3"], c.Command);
        Assert.Equal(5, c.TimeoutSeconds);
        Assert.Equal("V", c.Env["K"]);
    }

    [Theory]
    [InlineData("64M", 64L << 20)]
    [InlineData("64m", 64L << 20)]
    [InlineData("256MiB", 256L << 20)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2gb", 2L << 30)]
    [InlineData("4096", 4096L)]
    [InlineData("1T", 1L << 40)]
    public void Sizes_read_as_the_full_cli_reads_them(string text, long bytes)
    {
        Assert.True(FrontCommand.TryParseSize(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }
}
