using Moat.Jobs.Commands;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;

namespace Moat.Jobs.Tests.Commands;

public sealed class JobCommandProcessorTests : IAsyncLifetime
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"moat-cmd-{Guid.NewGuid():N}.db");
    private SqliteJobStore store = null!;
    private JobCommandProcessor processor = null!;
    private int wakes;

    public async Task InitializeAsync()
    {
        store = await SqliteJobStore.OpenAsync(path);
        var auth = new JobAuthorization(new HashSet<string> { "alice@x", "bob@x" }, new HashSet<string> { "root@x" });
        processor = new JobCommandProcessor(store, auth, () => [new WorkerInfo("w@x/r", ["gpu"], 4, 1)], () => wakes++);
    }

    public async Task DisposeAsync()
    {
        await store.DisposeAsync();
        File.Delete(path);
    }

    [Fact]
    public async Task Unknown_commands_get_a_helpful_reply()
    {
        string reply = await processor.ExecuteAsync("alice@x", "frobnicate 3");
        Assert.Equal("Unknown command 'frobnicate'. Valid commands: submit, status, cancel, logs, workers, queue, help.", reply);
    }

    [Fact]
    public async Task Only_authorised_users_may_submit()
    {
        string reply = await processor.ExecuteAsync("mallory@x", "submit --tasks 3 -- /bin/echo hi");
        Assert.Contains("not allowed to submit", reply, StringComparison.Ordinal);
        Assert.Empty(await store.ListAsync(null, 10));
    }

    [Fact]
    public async Task Submit_then_status_and_isolation_between_users()
    {
        string reply = await processor.ExecuteAsync("alice@x", "submit --tasks 3 --label gpu --retries 2 -- /bin/echo 'task {task}'");
        Assert.Equal("Job 1 submitted: 3 tasks of /bin/echo.", reply);
        Assert.Equal(1, wakes);
        Assert.StartsWith("Job 1 (/bin/echo, alice@x): queued, 0/3 done", await processor.ExecuteAsync("alice@x", "status 1"), StringComparison.Ordinal);
        Assert.Equal("There is no job 1 of yours; 'status' lists your jobs.", await processor.ExecuteAsync("bob@x", "status 1"));
        Assert.Equal("There is no job 1 of yours; 'status' lists your jobs.", await processor.ExecuteAsync("bob@x", "cancel 1"));
        Assert.Equal("Job 1 cancelled.", await processor.ExecuteAsync("root@x", "cancel 1"));
        Assert.Contains("\"queued\":0", await processor.ExecuteAsync("alice@x", "queue --json"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("submit --tasks many -- /bin/true", "--tasks 'many' is not a whole number.")]
    [InlineData("submit --tasks 3", "submit needs the command after '--', e.g. 'submit --tasks 10 -- /bin/echo {task}'.")]
    [InlineData("submit --colour red -- /bin/true", "Unknown submit option '--colour'; valid: --tasks, --label, --memory, --cpus, --priority, --retries, --redundancy, --timeout.")]
    [InlineData("submit --tasks 0 -- /bin/true", "--tasks 0 is out of range: a job has between 1 and 1000000 tasks.")]
    [InlineData("logs abc", "'abc' is not a job number; job numbers are digits, as printed by submit.")]
    public async Task Bad_input_is_answered_with_one_clear_sentence(string line, string expected)
    {
        Assert.Equal(expected, await processor.ExecuteAsync("alice@x", line));
    }

    [Fact]
    public void Tokenize_honours_quotes()
    {
        Assert.Equal(["submit", "--", "sh", "-c", "echo a b", ""], JobCommandProcessor.Tokenize("submit -- sh -c 'echo a b' \"\""));
    }
}
