using System.CommandLine;
using System.Text.Json;
using Moat.Mtd.Cli;

namespace Moat.Mtd.Tests.Cli;

public sealed class MtdCommandsTests
{
    /// <summary>Runs `moat mtd ...` in-process, capturing what it prints.</summary>
    internal static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        var root = new RootCommand("test") { MtdCommands.Create(Moat.Cli.Composition.LabImages.Source) };
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("--hosts", "0", "--hosts")]
    [InlineData("--rate", "-1", "--rate")]
    [InlineData("--period-hours", "-3", "--period-hours")]
    [InlineData("--trials", "0", "--trials")]
    [InlineData("--attackers", "0", "--attackers")]
    public async Task BadInput_ExitsNonZero_WithOneSentenceNamingTheOption(string option, string value, string named)
    {
        var (exit, stdout, stderr) = await RunAsync("mtd", "simulate", option, value);
        Assert.NotEqual(0, exit);
        Assert.Empty(stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(named, line, StringComparison.Ordinal);
        Assert.EndsWith(".", line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_IsParsable_AndHoldsBothFigures()
    {
        var (exit, stdout, stderr) = await RunAsync("mtd", "simulate", "--trials", "10", "--json", "--seed", "3");
        Assert.Equal(0, exit);
        Assert.Empty(stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("options").GetProperty("seed").GetInt32());
        Assert.True(doc.RootElement.GetProperty("figure4").GetProperty("series").GetArrayLength() > 0);
        Assert.True(doc.RootElement.GetProperty("figure5").GetProperty("series").GetArrayLength() > 0);
    }

    [Fact]
    public async Task Markdown_SameSeedTwice_IsIdentical()
    {
        var a = await RunAsync("mtd", "simulate", "--trials", "10", "--seed", "9");
        var b = await RunAsync("mtd", "simulate", "--trials", "10", "--seed", "9");
        Assert.Equal(0, a.Exit);
        Assert.Contains("| attacker sandboxes |", a.Out, StringComparison.Ordinal);
        Assert.Equal(a.Out, b.Out);
    }
}
