using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// An exec returns when its command exits, with the command's exit code, even when the command left a background
/// process holding its output open (podman exec does the same). Before the fix runc/runsc exec waited for the output
/// pipes' end of file, which the background process held: 60 s, then exit 124.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ExecReturnsTests
{
    // The guard that fails the test if exec hangs; well below the 60 s exec timeout that used to end the hang.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(RuntimeTier.Container)]
    [InlineData(RuntimeTier.Gvisor)]
    public async Task Exec_returns_the_exit_code_when_a_background_process_keeps_the_output_open(RuntimeTier tier)
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "bg", Tier = tier });

        var r = await h.Client.ExecAsync("bg", ["sh", "-c", "echo before; echo err >&2; (sleep 300 &); exit 3"]).WaitAsync(Guard);

        Assert.Equal(3, r.ExitCode);
        Assert.Equal("before\n", r.Stdout);
        Assert.Equal("err\n", r.Stderr);

        // The sandbox still answers, and the background process was left running (exec does not kill it).
        var ps = await h.Client.ExecAsync("bg", ["sh", "-c", "ps -o args | grep -c '^sleep 300'"]).WaitAsync(Guard);
        Assert.Equal("1", ps.Stdout.Trim());
    }

    [Theory]
    [InlineData(RuntimeTier.Container)]
    [InlineData(RuntimeTier.Gvisor)]
    public async Task Exec_keeps_all_output_a_command_writes_before_it_exits(RuntimeTier tier)
    {
        await using var h = await AgentHarness.StartAsync();
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "out", Tier = tier });

        // 200 KiB, more than a pipe buffer holds, so the output is still being read when the command exits.
        var r = await h.Client.ExecAsync("out", ["sh", "-c", "head -c 204800 /dev/zero | tr '\\0' x; exit 7"]).WaitAsync(Guard);

        Assert.Equal(7, r.ExitCode);
        Assert.Equal(204800, r.Stdout.Length);
    }
}
