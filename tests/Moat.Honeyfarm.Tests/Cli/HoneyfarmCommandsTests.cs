using System.CommandLine;
using System.Text.Json;
using Moat.Honeyfarm.Cli;
using Moat.Images.Cli;

namespace Moat.Honeyfarm.Tests.Cli;

/// <summary>`moat honeyfarm` as an operator types it: the demo with real sandbox clones, then `kept` reading what it left.</summary>
[Trait("Category", "Integration")]
[Collection(Integration.ContainerCloneTests.Name)]
public sealed class HoneyfarmCommandsTests
{
    /// <summary>Runs `moat ARGS` in-process (the honeyfarm verbs under a root with --state-dir), capturing its output.</summary>
    internal static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var root = new RootCommand();
        root.Options.Add(ImageCommands.StateDirOption);
        root.Subcommands.Add(HoneyfarmCommands.Create());
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_demo_with_runc_clones_keeps_the_clone_its_attacker_changed_and_kept_lists_it()
    {
        var state = Path.Combine(Path.GetTempPath(), "moat-hf-cli-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var demo = await RunAsync("honeyfarm", "demo", "--clones", "runc", "--state-dir", state);
            Assert.True(demo.Code == 0, demo.Err + demo.Out);
            Assert.Contains("closed universe", demo.Out);

            var kept = await RunAsync("honeyfarm", "kept", "--json", "--state-dir", state);
            Assert.Equal(0, kept.Code);
            var clone = Assert.Single(JsonDocument.Parse(kept.Out).RootElement.EnumerateArray());
            Assert.Contains("address=198.18.130.10", clone.GetProperty("describe").GetString());
            Assert.Contains(clone.GetProperty("files").EnumerateArray(), f => f.GetProperty("path").GetString() == "/tmp/implant" && f.GetProperty("change").GetString() == "added");
            Assert.True(File.Exists(Path.Combine(clone.GetProperty("folder").GetString()!, "filesystem-changes.tar")));

            // Nothing of the farm is left running or mounted.
            Assert.Empty(Directory.GetDirectories(Path.Combine(state, "honeyfarm", "clones")));
            Assert.DoesNotContain(state, await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Theory]
    [InlineData("--clones", "vm", "--clones 'vm' is not valid")]
    [InlineData("--image", "/nonexistent-image", "--image '/nonexistent-image' is neither")]
    public async Task Bad_clone_settings_are_refused_with_a_sentence_that_says_what_is_valid(string option, string value, string expected)
    {
        var state = Path.Combine(Path.GetTempPath(), "moat-hf-cli-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var (code, _, err) = await RunAsync("honeyfarm", "demo", option, value, "--state-dir", state);
            Assert.Equal(2, code);
            Assert.Contains(expected, err);
        }
        finally
        {
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}
