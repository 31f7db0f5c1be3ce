using System.Diagnostics;
using Moat.Containment.Quarantine;

namespace Moat.Containment.Tests.Quarantine;

/// <summary>The cgroup v1 freezer against the real kernel, in a cgroup of the test's own.</summary>
[Trait("Category", "Integration")]
public sealed class FreezerTests
{
    private const string Root = "/sys/fs/cgroup/freezer";

    [Fact]
    public async Task FreezeAndThaw_StopAndResumeTheSandboxesProcesses()
    {
        var id = "moat-test-" + Guid.NewGuid().ToString("N")[..8];
        var dir = Path.Combine(Root, id);
        Directory.CreateDirectory(dir);
        using var sleeper = Process.Start("sleep", "60");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "cgroup.procs"), sleeper.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var freezer = new Freezer(Root);

            await freezer.FreezeAsync(id);
            Assert.Equal("FROZEN", freezer.State(id));
            Assert.False(sleeper.HasExited);

            await freezer.ThawAsync(id);
            Assert.Equal("THAWED", freezer.State(id));
            await Assert.ThrowsAsync<ContainmentInputException>(() => freezer.FreezeAsync("no-such-sandbox-" + id));
        }
        finally
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "freezer.state"), "THAWED");
            sleeper.Kill();
            await sleeper.WaitForExitAsync();
            var deadline = Environment.TickCount64 + 5000;
            while (Directory.Exists(dir))
            {
                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException) when (Environment.TickCount64 < deadline)
                {
                    await Task.Delay(10);
                }
            }
        }
    }
}
