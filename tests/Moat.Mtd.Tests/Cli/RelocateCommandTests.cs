using System.Text.Json;
using Moat.Host.Sandboxes;
using Moat.Mtd.Tests.Relocation;

namespace Moat.Mtd.Tests.Cli;

/// <summary>`moat mtd relocate` against two real host agents of a lab: a sandbox and its files move; bad input is refused.</summary>
public sealed class RelocateCommandTests
{
    [Trait("Category", "Integration")]
    [Fact]
    public async Task Relocate_moves_the_sandbox_and_its_files_and_reports_as_json()
    {
        await using var lab = await LabImages.StartLabAsync();
        var (a, b) = (lab.Hosts[0], lab.Hosts[1]);
        var job = await a.Sandboxes.CreateAsync(SandboxSpec.Default with { Name = "job" });
        var marker = Guid.NewGuid().ToString("N");
        Assert.Equal(0, (await a.Sandboxes.ExecAsync(job.Id, ["sh", "-c", $"echo {marker} > /work-marker"], null, TimeSpan.FromSeconds(10))).ExitCode);

        var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "relocate", "job", "--from", a.Options.StateDir, "--to", b.Options.StateDir, "--json");

        Assert.True(exit == 0, stderr + stdout);
        using var report = JsonDocument.Parse(stdout);
        Assert.Equal("Moved", report.RootElement.GetProperty("outcome").GetString());
        Assert.Equal("Cold", report.RootElement.GetProperty("mode").GetString());
        var moved = Assert.Single(b.Sandboxes.List(), s => s.PoolImage is null);
        Assert.Equal("job", moved.Name);
        Assert.Equal(moved.Id, report.RootElement.GetProperty("destinationId").GetString());
        Assert.Equal($"{marker}\n", (await b.Sandboxes.ExecAsync(moved.Id, ["cat", "/work-marker"], null, TimeSpan.FromSeconds(10))).Stdout);
        Assert.DoesNotContain(a.Sandboxes.List(), s => s.Name == "job");
    }

    [Trait("Category", "Integration")]
    [Fact]
    public async Task Relocate_refuses_a_destination_without_an_agent_and_a_sandbox_the_source_does_not_have()
    {
        await using var lab = await LabImages.StartLabAsync();
        var a = lab.Hosts[0];
        var nowhere = Directory.CreateTempSubdirectory("moat-no-agent-").FullName;
        try
        {
            var (exit, stdout, stderr) = await MtdCommandsTests.RunAsync("mtd", "relocate", "job", "--from", a.Options.StateDir, "--to", nowhere);
            Assert.Equal(2, exit);
            Assert.Empty(stdout);
            Assert.Contains("no host agent runs on", stderr, StringComparison.Ordinal);

            (exit, _, stderr) = await MtdCommandsTests.RunAsync("mtd", "relocate", "ghost", "--from", a.Options.StateDir, "--to", lab.Hosts[1].Options.StateDir);
            Assert.Equal(2, exit);
            Assert.Contains("ghost", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(nowhere, recursive: true);
        }
    }
}
