using System.Text.Json;
using Moat.Host.Sandboxes;
using Moat.Mtd.Tests.Relocation;

namespace Moat.Mtd.Tests.Cli;

/// <summary>`moat mtd relocate` and `moat mtd run` with hosts named by their JIDs: everything goes over the lab's XMPP
/// fabric with the command's own account.</summary>
public sealed class FabricHostsCliTests
{
    [Trait("Category", "Integration")]
    [Fact]
    public async Task Relocate_and_run_drive_hosts_named_by_JID_over_the_fabric()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var server = lab.Fabric!;
        string[] account = ["--xmpp", lab.CoordinatorJid, "--xmpp-server", $"{server.Address}:{server.Port}", "--xmpp-password-file", lab.CoordinatorPasswordFile];
        var job = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "job" });
        Assert.Equal(0, (await a.Sandboxes.ExecAsync(job.Id, ["sh", "-c", "echo kept > /marker"], null, TimeSpan.FromSeconds(10))).ExitCode);

        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync(["mtd", "relocate", "job", "--from", a.Jid!, "--to", b.Jid!, "--json", .. account]);

        Assert.True(exit == 0, stderr + stdout);
        var report = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("Moved", report.GetProperty("outcome").GetString());
        Assert.Equal(b.Jid, report.GetProperty("to").GetString());
        var moved = Assert.Single(b.Sandboxes.List(), s => s.Name == "job");
        Assert.Equal("kept\n", (await b.Sandboxes.ExecAsync(moved.Id, ["cat", "/marker"], null, TimeSpan.FromSeconds(10))).Stdout);
        Assert.DoesNotContain(a.Sandboxes.List(), s => s.Name == "job");

        // The scheduler as a process, over the same fabric: it keeps moving the sandbox back and forth.
        (exit, stdout, stderr) = await MtdCommandsTests.RunAsync(["mtd", "run", "--host", a.Jid!, "--host", b.Jid!, "--sandbox", "job",
            "--policy", "periodic:1s", "--for", "6s", "--json", .. account]);

        Assert.True(exit == 0, stderr + stdout);
        var moves = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("report")).ToList();
        Assert.True(moves.Count >= 2, stdout);
        Assert.All(moves, m => Assert.Equal("Moved", m.GetProperty("outcome").GetString()));
        var now = a.Sandboxes.List().Concat(b.Sandboxes.List()).Single(s => s.Name == "job");
        var host = a.Sandboxes.List().Any(s => s.Id == now.Id) ? a : b;
        Assert.Equal("kept\n", (await host.Sandboxes.ExecAsync(now.Id, ["cat", "/marker"], null, TimeSpan.FromSeconds(10))).Stdout);
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task A_fabric_host_needs_an_account_it_administers_and_says_so()
    {
        await using var lab = await LabImages.StartLabAsync(fabric: true);
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var server = lab.Fabric!;
        await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "job" });

        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "relocate", "job", "--from", a.Jid!, "--to", b.Jid!);
        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.StartsWith("--xmpp and --xmpp-password-file are needed", stderr, StringComparison.Ordinal);

        var passwordFile = Path.Combine(a.Options.StateDir, "eve.password");
        await File.WriteAllTextAsync(passwordFile, "eve-password\n");
        server.AddAccount("eve", "eve-password");
        (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "relocate", "job", "--from", a.Jid!, "--to", b.Jid!,
            "--xmpp", "eve@" + server.Domain, "--xmpp-server", $"{server.Address}:{server.Port}", "--xmpp-password-file", passwordFile);
        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.Contains("--xmpp-admin eve@" + server.Domain, stderr, StringComparison.Ordinal);

        // Nothing moved or stopped.
        Assert.Equal(SandboxState.Running, a.Sandboxes.Get("job").State);
        Assert.DoesNotContain(b.Sandboxes.List(), s => s.Name == "job");
    }
}
