using System.Text.Json;

namespace Moat.Mtd.Tests.Cli;

/// <summary>`moat mtd lab`: RELOCATE end to end (namespaced hosts on a fabric, a VIP, a client), as the demo runs it.</summary>
public sealed class LabCommandTests
{
    [Trait("Category", "Integration")]
    [Fact]
    public async Task Lab_moves_the_service_over_the_fabric_while_its_client_loses_nothing_and_leaves_no_namespace()
    {
        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "lab", "--hosts", "2", "--policy", "periodic:1s", "--for", "6s", "--json", "--seed", "5");

        Assert.True(exit == 0, stderr + stdout);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var moves = lines[..^1];
        var summary = lines[^1];
        Assert.True(moves.Count >= 2, stdout);
        Assert.All(moves, m => Assert.Equal("Moved", m.GetProperty("report").GetProperty("outcome").GetString()));
        for (var i = 1; i < moves.Count; i++)
        {
            Assert.Equal(moves[i - 1].GetProperty("report").GetProperty("to").GetString(), moves[i].GetProperty("report").GetProperty("from").GetString());
        }

        // Hosts are named by their fabric JIDs: the moves went over XMPP.
        Assert.EndsWith("@moat.test", moves[0].GetProperty("report").GetProperty("to").GetString(), StringComparison.Ordinal);
        Assert.Equal("xmpp-fabric", summary.GetProperty("controlPath").GetString());
        Assert.Equal(moves.Count, summary.GetProperty("moved").GetInt32());
        Assert.Equal(0, summary.GetProperty("failed").GetInt32());
        Assert.True(summary.GetProperty("served").GetInt64() > 0, stdout);
        Assert.Equal(0, summary.GetProperty("lost").GetInt64());
        Assert.Equal(0, summary.GetProperty("wrong").GetInt64());
        Assert.True(summary.GetProperty("longestGapMs").GetDouble() > 0);

        // Nothing of the lab is left: neither its namespaces nor any sandbox's.
        var made = summary.GetProperty("namespaces").EnumerateArray().Select(n => n.GetString()!).ToList();
        Assert.True(made.Count == 5, stdout); // LAN, front, client, two hosts
        var sandboxes = moves.SelectMany(m => new[] { m.GetProperty("report").GetProperty("sourceId").GetString(), m.GetProperty("report").GetProperty("destinationId").GetString() })
            .Select(id => "moat-" + id);
        Assert.All(made.Concat(sandboxes), n => Assert.False(File.Exists("/run/netns/" + n), n + " is left"));
    }

    [Theory]
    [InlineData("--hosts", "1", "--hosts")]
    [InlineData("--hosts", "9", "--hosts")]
    [InlineData("--policy", "on-alert", "--policy")]
    [InlineData("--policy", "hourly", "--policy")]
    [InlineData("--for", "soon", "--for")]
    public async Task Bad_input_exits_2_with_one_sentence_naming_the_option(string option, string value, string named)
    {
        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "lab", option, value);

        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.StartsWith(named, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }
}
