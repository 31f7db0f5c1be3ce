using System.Runtime.Versioning;

namespace Moat.Jobs.Tests.Cli;

/// <summary>
/// A password on the command line is in every local user's process list while the command runs: the jobs CLI refuses
/// `--password` with one sentence pointing at `--password-file` and MOAT_XMPP_PASSWORD, before it connects anywhere.
/// Console output is process-wide, so these run in the collection of the other tests that drive the CLI.
/// </summary>
[Trait("Category", "Integration")]
[Collection(Integration.FabricCollection.Name)]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class PasswordArgumentHostileTests
{
    [Theory]
    [InlineData("submit", "--jid", "alice@moat.test", "--manager", "jobs@moat.test", "--tasks", "1", "--", "/bin/true")]
    [InlineData("status", "--jid", "alice@moat.test", "--manager", "jobs@moat.test")]
    [InlineData("chat", "--jid", "alice@moat.test", "--manager", "jobs@moat.test", "status")]
    [InlineData("worker", "--jid", "worker1@moat.test", "--manager", "jobs@moat.test")]
    [InlineData("manager", "--jid", "jobs@moat.test", "--worker-allow", "worker1@moat.test")]
    public async Task A_password_in_argv_is_refused_with_one_sentence_naming_the_safe_ways(params string[] verb)
    {
        string store = Path.Combine(Path.GetTempPath(), $"moat-cli-{Guid.NewGuid():N}.db");
        string[] rest = verb[0] == "manager" ? [.. verb[1..], "--store", store] : verb[1..];
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        int code;
        try
        {
            // 127.0.0.1:1 answers nothing: a command that got past the check would fail on connecting instead.
            code = await Moat.Jobs.Cli.JobCommands.Create().Parse([verb[0], "--password", "hunter2", "--server", "127.0.0.1:1", "--no-tls", .. rest]).InvokeAsync();
        }
        finally
        {
            Console.SetError(saved);
        }

        Assert.NotEqual(0, code);
        string text = error.ToString();
        Assert.StartsWith("--password would show the password to every local user", text, StringComparison.Ordinal);
        Assert.Contains("--password-file", text, StringComparison.Ordinal);
        Assert.Contains("MOAT_XMPP_PASSWORD", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.False(File.Exists(store));
    }
}
