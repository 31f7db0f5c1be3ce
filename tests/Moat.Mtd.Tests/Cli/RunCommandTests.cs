using System.Text.Json;
using Moat.Host.Sandboxes;
using Moat.Mtd.Cli;
using Moat.Mtd.Relocation.Lab;
using Moat.Mtd.Tests.Relocation;

namespace Moat.Mtd.Tests.Cli;

/// <summary>`moat mtd run` against real host agents of a lab: the sandbox keeps moving on its clock, and stops when told.</summary>
public sealed class RunCommandTests
{
    [Trait("Category", "Integration")]
    [Fact]
    public async Task Run_keeps_a_sandbox_moving_between_agents_on_its_clock_with_its_files()
    {
        await using var lab = await LabImages.StartLabAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var job = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "roamer" });
        Assert.Equal(0, (await a.Sandboxes.ExecAsync(job.Id, ["sh", "-c", "echo kept > /marker"], null, TimeSpan.FromSeconds(10))).ExitCode);

        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "run", "--host", a.Options.StateDir, "--host", b.Options.StateDir,
            "--sandbox", "roamer", "--policy", "periodic:1s", "--for", "8s", "--json");

        Assert.True(exit == 0, stderr + stdout);
        // --for ends the waiting, not a move in flight: every move printed completed.
        var moves = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(moves.Count >= 2, stdout);
        Assert.All(moves, m => Assert.Equal("Moved", m.GetProperty("report").GetProperty("outcome").GetString()));
        // Each move leaves the host the last one arrived at: A -> B -> A ...
        for (var i = 1; i < moves.Count; i++)
        {
            Assert.Equal(moves[i - 1].GetProperty("report").GetProperty("to").GetString(), moves[i].GetProperty("report").GetProperty("from").GetString());
        }

        var now = a.Sandboxes.List().Concat(b.Sandboxes.List()).Single(s => s.Name == "roamer");
        var host = a.Sandboxes.List().Any(s => s.Id == now.Id) ? a : b;
        Assert.Equal("kept\n", (await host.Sandboxes.ExecAsync(now.Id, ["cat", "/marker"], null, TimeSpan.FromSeconds(10))).Stdout);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Run_on_alert_moves_a_tracked_sandbox_away_from_a_neighbour_its_host_raised_an_alert_about()
    {
        await using var lab = await LabImages.StartLabAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "web" });
        var miner = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "miner" });
        using (var client = new Moat.Host.Client.HostClient(Path.Combine(a.Options.StateDir, "agent.sock")))
        {
            // The agent's exec monitor marks a sandbox's file system when it mounts it; one created as the agent starts
            // is marked at the monitor's next sweep. The miner's exec must come after.
            using var watched = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (!(await client.WatchStatusAsync(watched.Token)).ExecWatched.Contains(miner.Id))
            {
                await Task.Delay(50, watched.Token);
            }
        }

        var since = DateTimeOffset.UtcNow;

        var run = MtdCommandsTests.RunAsync("mtd", "run", "--host", a.Options.StateDir, "--host", b.Options.StateDir, "--sandbox", "web",
            "--policy", "on-alert", "--on-alert", "--alerts-since", since.ToString("O"), "--for", "15s", "--json");
        // The neighbour runs a program its image does not have: the exec monitor alerts on it (binary-not-in-image).
        Assert.Equal(0, (await a.Sandboxes.ExecAsync(miner.Id, ["sh", "-c", "mkdir -p /tmp/x && cp /bin/busybox /tmp/x/true && /tmp/x/true"], null, TimeSpan.FromSeconds(10))).ExitCode);
        var (exit, stdout, stderr) = await run;

        Assert.True(exit == 0, stderr + stdout);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != 1)
        {
            using var client = new Moat.Host.Client.HostClient(Path.Combine(a.Options.StateDir, "agent.sock"));
            var alerts = await client.AlertsAsync();
            Assert.Fail($"{lines.Length} moves (expected 1) since {since:O}; host A's exec alerts: {string.Join("; ", alerts.Exec.Select(x => $"{x.Time:O} {x.SandboxId} {x.Rule} {x.Path}"))}; miner is {miner.Id}");
        }

        var move = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("Alert", move.GetProperty("reason").GetString());
        Assert.Equal("Moved", move.GetProperty("report").GetProperty("outcome").GetString());
        Assert.Contains(b.Sandboxes.List(), s => s.Name == "web");
        Assert.Contains(a.Sandboxes.List(), s => s.Name == "miner"); // the suspect stays where it is
    }

    [Theory]
    [InlineData("periodic:30m", true)]
    [InlineData("poisson:4", true)]
    [InlineData("poisson:4:10m", true)]
    [InlineData("poisson:0", false)]
    [InlineData("periodic:0s", false)]
    [InlineData("periodic:soon", false)]
    [InlineData("on-alert", true)]
    [InlineData("sometimes", false)]
    public void Policies_are_parsed_or_refused(string text, bool valid) => Assert.Equal(valid, RunCommand.ParsePolicy(text) is not null);

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Run_with_a_vip_keeps_the_service_address_on_the_moving_sandbox_while_a_client_uses_it()
    {
        await using var lab = await LabImages.StartLabAsync();
        // The lab's agents have no containment policy to publish the service; the lab does it for every sandbox.
        await using var published = lab.PublishAllSandboxes();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        await a.Sandboxes.CreateAsync(SandboxSpec.Default with
        {
            Name = "web",
            Command = ["sh", "-c", "mkdir -p /data/www && echo served > /data/www/index.html && exec httpd -f -p 80 -h /data/www"],
        });
        var vip = lab.NextVip();
        var url = new Uri($"http://{vip}/index.html");

        var run = MtdCommandsTests.RunAsync("mtd", "run", "--host", a.Options.StateDir, "--host", b.Options.StateDir, "--sandbox", "web",
            "--policy", "periodic:1s", "--for", "8s", "--json", "--vip", $"web={vip}:80", "--front-netns", lab.FrontNs, "--front-out", SurrogateLab.FrontLanInterface);
        using var http = lab.ClientHttp(TimeSpan.FromSeconds(2));
        // The command binds the address as it starts; from then on a client keeps asking through it.
        try
        {
            Assert.Equal("served\n", await RelocationTests.GetWithRetriesAsync(http, url));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            var (code, o, err) = await run;
            Assert.Fail($"the service address never answered ({e.Message}); the command exited {code}: {err}{o}");
        }

        var client = ServiceClientLoad.Start(http, url, "served\n");
        var (exit, stdout, stderr) = await run;
        var seen = await client.StopAsync();

        Assert.True(exit == 0, stderr + stdout);
        var moves = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("report")).ToList();
        Assert.True(moves.Count >= 2, stdout);
        Assert.All(moves, m => Assert.Equal("Moved", m.GetProperty("outcome").GetString()));
        Assert.True(seen.Served > 0);
        Assert.Equal(0, seen.Lost);
        Assert.Equal(0, seen.Wrong);
        // The address outlives the command and leads to wherever the sandbox is now.
        Assert.Equal("served\n", await RelocationTests.GetWithRetriesAsync(http, url));
    }

    [Theory]
    [InlineData("web=not-an-address")]
    [InlineData("web=198.18.99.1")]
    [InlineData("other=198.18.99.1:80")]
    [InlineData("web=[2001:db8::1]:80")]
    public async Task Run_refuses_a_vip_that_is_not_SANDBOX_equals_IPv4_and_port_of_a_tracked_sandbox(string vip)
    {
        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "run", "--host", "/nowhere-a", "--host", "/nowhere-b", "--sandbox", "web", "--vip", vip);

        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.StartsWith("--vip", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_refuses_a_single_host_and_a_folder_without_an_agent()
    {
        var nowhere = Directory.CreateTempSubdirectory("moat-no-agent-").FullName;
        try
        {
            var (exit, _, stderr) = await MtdCommandsTests.RunAsync("mtd", "run", "--host", nowhere, "--sandbox", "x");
            Assert.Equal(2, exit);
            Assert.Contains("at least two", stderr, StringComparison.Ordinal);
            (exit, _, stderr) = await MtdCommandsTests.RunAsync("mtd", "run", "--host", nowhere, "--host", nowhere + "-2", "--sandbox", "x");
            Assert.Equal(2, exit);
            Assert.Contains("no host agent runs on", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(nowhere, recursive: true);
        }
    }
}
