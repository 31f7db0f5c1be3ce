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

    [Theory]
    [InlineData("--store", "postgres://jobs:hunter2@127.0.0.1:1/moat", "The --store address carries a password")]
    [InlineData("--store", "postgres://127.0.0.1:1", "'postgres://127.0.0.1:1' in --store names no database")]
    [InlineData("--store-connection-file", "world-readable", "The connection file {file} can be read or changed by other users (mode 644)")]
    [InlineData("--store-connection-file", "missing", "The connection file {file} does not exist")]
    public async Task A_store_secret_on_the_command_line_or_in_an_open_file_is_refused_with_one_sentence(string option, string value, string sentence)
    {
        string folder = Directory.CreateTempSubdirectory("moat-cli-").FullName;
        string file = Path.Combine(folder, value);
        if (value == "world-readable")
        {
            await File.WriteAllTextAsync(file, "postgres://jobs:hunter2@127.0.0.1:1/moat");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            int code = await Moat.Jobs.Cli.JobCommands.Create().Parse(
                ["manager", "--jid", "jobs@moat.test", "--password-file", fabric.PasswordFile, "--server", "127.0.0.1:1", "--worker-allow", "w@moat.test",
                 option, option == "--store" ? value : file]).InvokeAsync();
            Assert.Equal(1, code);
        }
        finally
        {
            Console.SetError(saved);
            Directory.Delete(folder, recursive: true);
        }

        Assert.StartsWith(sentence.Replace("{file}", file, StringComparison.Ordinal), error.ToString(), StringComparison.Ordinal);
        Assert.Single(error.ToString().TrimEnd().Split('\n'));
        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
    }
}
