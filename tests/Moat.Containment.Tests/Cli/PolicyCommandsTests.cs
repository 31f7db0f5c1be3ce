using System.CommandLine;
using System.Text.Json;
using Moat.Containment.Cli;
using Moat.Containment.Tests.Rules;

namespace Moat.Containment.Tests.Cli;

[Collection("console")]
public sealed class PolicyCommandsTests
{
    [Fact]
    public async Task Check_ValidFile_ExitsZeroAndPrintsTheParsedPolicyAsJson()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, ContainmentWorld.Policy);
            var (code, stdout) = await RunAsync("policy", "check", file, "--json");

            Assert.Equal(0, code);
            using var json = JsonDocument.Parse(stdout);
            Assert.True(json.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal("semi-trusted", json.RootElement.GetProperty("clients").GetProperty("sam").GetString());
            Assert.Equal(5, json.RootElement.GetProperty("allow").GetArrayLength());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Check_BadFile_ExitsOneWithFileLineAndField()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "clients:\n  bob: root\n");
            var (code, stdout) = await RunAsync("policy", "check", file, "--json");

            Assert.Equal(1, code);
            using var json = JsonDocument.Parse(stdout);
            Assert.False(json.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal($"{file} line 2, field 'clients.bob': 'root' is not a trust level; use trusted, semi-trusted or untrusted.", json.RootElement.GetProperty("error").GetString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<(int Code, string Stdout)> RunAsync(params string[] args)
    {
        var root = new RootCommand { PolicyCommands.Create() };
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        try
        {
            var code = await root.Parse(args).InvokeAsync();
            return (code, output.ToString());
        }
        finally
        {
            Console.SetOut(previous);
        }
    }
}
