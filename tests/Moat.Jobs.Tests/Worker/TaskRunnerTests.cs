using Moat.Jobs.Store;
using Moat.Jobs.Worker;

namespace Moat.Jobs.Tests.Worker;

public sealed class TaskRunnerTests
{
    private static TaskAssignment Task(string command, TimeSpan timeout, params string[] args) => new(7, 1, 3, 2, command, args, timeout);

    [Fact]
    public async Task Returns_exit_code_and_output()
    {
        var result = await TaskRunner.RunAsync(Task("/bin/sh", TimeSpan.FromSeconds(30), "-c", "echo out; echo err >&2; exit 3"), 1000, CancellationToken.None);
        Assert.Equal((7L, 2, 3, false), (result.TaskId, result.Attempt, result.ExitCode, result.TimedOut));
        Assert.Contains("out\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("err\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_task_over_its_timeout_is_killed_with_its_children()
    {
        string marker = Path.Combine(Path.GetTempPath(), $"moat-child-{Guid.NewGuid():N}");
        // The child writes its pid; after the kill that pid must no longer exist.
        var result = await TaskRunner.RunAsync(Task("/bin/sh", TimeSpan.FromSeconds(2), "-c", $"sleep 60 & echo $! > {marker}; wait"), 1000, CancellationToken.None);
        Assert.True(result.TimedOut);
        Assert.Equal(124, result.ExitCode);
        int child = int.Parse(File.ReadAllText(marker).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        File.Delete(marker);
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Output_is_bounded()
    {
        var result = await TaskRunner.RunAsync(Task("/bin/sh", TimeSpan.FromSeconds(30), "-c", "head -c 100000 /dev/zero | tr '\\0' x"), 1000, CancellationToken.None);
        Assert.Equal(new string('x', 1000) + "\n[output truncated]", result.Output);
    }

    [Fact]
    public async Task A_missing_program_is_exit_127_with_a_reason()
    {
        var result = await TaskRunner.RunAsync(Task("/nonexistent/program", TimeSpan.FromSeconds(5)), 1000, CancellationToken.None);
        Assert.Equal(127, result.ExitCode);
        Assert.StartsWith("cannot start '/nonexistent/program'", result.Output, StringComparison.Ordinal);
    }
}
