using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Moat.Honeyfarm.Control;
using Moat.Honeyfarm.Tests.Integration;

namespace Moat.Honeyfarm.Tests.Cli;

/// <summary>The running gateway's control socket, driven by the `moat honeyfarm` verbs an operator types.</summary>
[Trait("Category", "Integration")]
public sealed class ControlTests
{
    private static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => HoneyfarmCommandsTests.RunAsync(args);

    [Fact]
    public async Task Status_universes_clones_export_and_close_answer_from_the_running_gateway()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var socket = Path.Combine(Path.GetTempPath(), "moat-hf-control-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        await using var control = ControlServer.Start(farm.Gateway, socket);
        var target = IPAddress.Parse("198.18.150.5");
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker1, target, 22));
        Assert.NotNull(await FarmTopology.GreetingAsync(farm.Inet, FarmTopology.Attacker2, target, 22));

        var status = await RunAsync("honeyfarm", "status", "--json", "--socket", socket);
        Assert.True(status.Code == 0 && status.Out.Length > 0, $"code {status.Code}, out [{status.Out}], err [{status.Err}]");
        var s = JsonNode.Parse(status.Out)!;
        Assert.Equal(FarmTopology.Dark.ToString(), s["range"]!.GetValue<string>());
        Assert.Equal(farm.Gateway.Counters.ClonesBound, s["counters"]!["clonesBound"]!.GetValue<long>());

        var u0 = await RunAsync("honeyfarm", "universes", "--json", "--socket", socket);
        Assert.True(u0.Code == 0, u0.Err);
        var universes = JsonNode.Parse(u0.Out)!.AsArray();
        Assert.Equal(farm.Gateway.Universes().Select(u => u.Id).Order(), universes.Select(u => u!["id"]!.GetValue<int>()).Order());
        Assert.All(universes, u => Assert.Equal(target.ToString(), Assert.Single(u!["clones"]!.AsArray())!["address"]!.GetValue<string>()));

        var clones = await RunAsync("honeyfarm", "clones", "--socket", socket);
        Assert.Equal(2, clones.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith(target.ToString(), StringComparison.Ordinal)));

        var file = Path.Combine(Path.GetTempPath(), "moat-hf-export-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        try
        {
            Assert.Equal(0, (await RunAsync("honeyfarm", "export", "--output", file, "--socket", socket)).Code);
            var export = JsonNode.Parse(await File.ReadAllTextAsync(file))!;
            Assert.Equal(2, export["universes"]!.AsArray().Count);
            Assert.NotNull(export["status"]!["counters"]);
        }
        finally
        {
            File.Delete(file);
        }

        // Closing the first attacker's universe through the CLI; a second close says it is not open.
        var first = farm.Gateway.Universes().Single(u => FarmTopology.Attacker1.Equals(u.Attacker)).Id;
        Assert.Equal(0, (await RunAsync("honeyfarm", "close", first.ToString(System.Globalization.CultureInfo.InvariantCulture), "--socket", socket)).Code);
        Assert.DoesNotContain(farm.Gateway.Universes(), u => u.Id == first);
        var again = await RunAsync("honeyfarm", "close", first.ToString(System.Globalization.CultureInfo.InvariantCulture), "--socket", socket);
        Assert.Equal(1, again.Code);
        Assert.Contains("not open", again.Err);
    }

    [Fact]
    public async Task A_hostile_or_unknown_request_gets_an_error_and_the_socket_keeps_serving()
    {
        await using var farm = await FarmTopology.CreateAsync();
        var path = Path.Combine(Path.GetTempPath(), "moat-hf-control-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        await using var control = ControlServer.Start(farm.Gateway, path);

        Assert.Contains("unknown request", (await ControlClient.RequestAsync(path, "rm -rf /"))["error"]!.GetValue<string>());
        Assert.Contains("unknown request", (await ControlClient.RequestAsync(path, "close -1"))["error"]!.GetValue<string>());
        // An oversized request is refused, not read without end.
        using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
            await s.SendAsync(Encoding.ASCII.GetBytes(new string('x', 100_000)), SocketFlags.None);
            var buffer = new byte[4096];
            var n = await s.ReceiveAsync(buffer, SocketFlags.None);
            Assert.Contains("at most", Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.NotNull((await ControlClient.RequestAsync(path, "status"))["counters"]);
        Assert.Equal("0600", Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0'));

        // No gateway: the verbs say so in one sentence.
        var missing = await RunAsync("honeyfarm", "status", "--socket", path + ".gone");
        Assert.Equal(1, missing.Code);
        Assert.Contains("No honeyfarm gateway answers", missing.Err);
    }
}
