using System.Runtime.Versioning;

namespace Moat.Jobs.Tests.Cli;

/// <summary>Console output is process-wide, so these run in the collection of the other tests that drive the CLI, never beside them.</summary>
[Trait("Category", "Integration")]
[Collection(Integration.FabricCollection.Name)]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class ManagerCommandTests(Integration.FabricFixture fabric)
{
    [Theory]
    [InlineData("worker@moat.test/w1", "'worker@moat.test/w1' is not a bare account JID")]
    [InlineData("group:", "'group:' names no group")]
    public async Task A_bad_worker_allow_entry_is_refused_with_one_sentence_before_anything_starts(string entry, string sentence)
    {
        string store = Path.Combine(Path.GetTempPath(), $"moat-cli-{Guid.NewGuid():N}.db");
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            int code = await Moat.Jobs.Cli.JobCommands.Create().Parse(
                ["manager", "--jid", "jobs@moat.test", "--password-file", fabric.PasswordFile, "--server", "127.0.0.1:1", "--store", store, "--worker-allow", entry]).InvokeAsync();
            Assert.Equal(1, code);
        }
        finally
        {
            Console.SetError(saved);
        }

        Assert.StartsWith(sentence, error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(store));
    }
}
